"""The web UI: server-rendered pages (Jinja2) in the same ASGI app, under ``/{org}[/{project}]/_artifacts/``.

Pages call the same services as the REST API, so every rule (roles, views, upstream behaviour) holds here
exactly as it holds there. The browser signs in with a personal access token and then holds only a session
cookie; each state change carries the session's CSRF token. Everything from packages and upstreams is
rendered escaped (readmes go through a Markdown renderer and an HTML sanitizer), and the pages run no inline
script, which the Content-Security-Policy enforces.
"""
