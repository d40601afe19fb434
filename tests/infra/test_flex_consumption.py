"""No site property or app setting that Microsoft documents as not allowed on a Flex Consumption app.

The lists are Microsoft's "Flex Consumption plan deprecations" table (App settings reference for Azure Functions,
functions-app-settings), plus the settings the Flex Consumption plan page names as unsupported under
"Considerations". Some of them make ARM answer BadRequest when the site is created (``Site.SiteConfig.FtpsState``,
``FUNCTIONS_WORKER_RUNTIME``); the others are ignored or overwritten, which hides a configuration that does
nothing. Either way the template must not carry them.

The check reads the Bicep two ways, so that a setting is caught wherever it is written:

- parsed (pycep): every ``Microsoft.Web/sites`` (and slot) resource's ``properties`` and ``siteConfig``, the
  ``siteConfig.appSettings`` array, and every ``Microsoft.Web/sites/config`` resource named ``web`` or
  ``appsettings``, nested or not, with variables and function arguments (``union(...)``) expanded;
- as text: each name written as an object key or as ``name: '...'``, in any file, outside comments. This catches
  what the parsed walk cannot see, such as a setting built in another module and passed in.

ARM treats these names without regard to case, and so does the check.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from tests.infra.test_bicep import INFRA, body

#: App settings Flex Consumption does not take, with Microsoft's reason.
FORBIDDEN_APP_SETTINGS: dict[str, str] = {
    "ENABLE_ORYX_BUILD": "replaced by the remoteBuild parameter when deploying",
    "FUNCTIONS_EXTENSION_VERSION": "set by the backend",
    "FUNCTIONS_WORKER_RUNTIME": "replaced by name in properties.functionAppConfig.runtime",
    "FUNCTIONS_WORKER_RUNTIME_VERSION": "replaced by version in properties.functionAppConfig.runtime",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY": "replaced by the trigger section of scaleAndConcurrency",
    "FUNCTIONS_WORKER_PROCESS_COUNT": "not valid",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED": "not valid",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "replaced by the remoteBuild parameter when deploying",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "replaced by the deployment section of functionAppConfig",
    "WEBSITE_CONTENTOVERVNET": "not used for networking",
    "WEBSITE_CONTENTSHARE": "replaced by the deployment section of functionAppConfig",
    "WEBSITE_DNS_SERVER": "DNS comes from the integrated virtual network",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT": "replaced by scaleAndConcurrency.maximumInstanceCount",
    "WEBSITE_NODE_DEFAULT_VERSION": "replaced by version in properties.functionAppConfig.runtime",
    "WEBSITE_RUN_FROM_PACKAGE": "not used for deployments",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION": "there is no content share",
    "WEBSITE_VNET_ROUTE_ALL": "not used for networking",
    # From the plan page's considerations:
    "WEBSITE_TIME_ZONE": "time zones are not supported",
    "TZ": "time zones are not supported",
    "WEBSITE_LOAD_CERTIFICATES": "loading certificates is not supported",
}

#: Site properties (site ``properties`` or ``siteConfig``) Flex Consumption does not take, with Microsoft's reason.
#: Microsoft's table writes ``isReserved`` and ``IsXenon`` (their SDK names); the ARM properties are ``reserved`` and
#: ``isXenon``. ``reserved`` stays legal on the plan (``Microsoft.Web/serverfarms``), which must say Linux.
FORBIDDEN_SITE_PROPERTIES: dict[str, str] = {
    "alwaysOn": "not valid",
    "containerSize": "renamed instanceMemoryMB",
    "ftpsState": "FTPS not supported; the ftp publishing credentials policy turns FTP off",
    "isReserved": "not valid",
    "reserved": "not valid on the site; Microsoft's table calls it isReserved",
    "isXenon": "not valid",
    "javaVersion": "replaced by version in properties.functionAppConfig.runtime",
    "linuxFxVersion": "replaced by properties.functionAppConfig.runtime",
    "netFrameworkVersion": "replaced by version in properties.functionAppConfig.runtime",
    "powerShellVersion": "replaced by version in properties.functionAppConfig.runtime",
    "functionAppScaleLimit": "renamed maximumInstanceCount",
    "preWarmedInstanceCount": "renamed alwaysReadyInstances",
    "use32BitWorkerProcess": "32-bit not supported",
    "vnetBackupRestoreEnabled": "not used for networking",
    "vnetContentShareEnabled": "not used for networking",
    "vnetImagePullEnabled": "not used for networking",
    "vnetRouteAllEnabled": "not used for networking",
    "windowsFxVersion": "not valid",
}

#: Names the text scan skips: ``reserved`` is legal (and needed) on the plan, so only the parsed walk, which knows
#: which resource it is in, judges it.
_TEXT_SCAN_SKIPS = {"reserved"}

_SITE_TYPES = {"microsoft.web/sites", "microsoft.web/sites/slots"}
_CONFIG_TYPES = {"microsoft.web/sites/config", "microsoft.web/sites/slots/config"}

_APP_SETTINGS = {name.lower(): name for name in FORBIDDEN_APP_SETTINGS}
_SITE_PROPERTIES = {name.lower(): name for name in FORBIDDEN_SITE_PROPERTIES}


def _key(key: str) -> str:
    """An object key as ARM sees it: pycep keeps the quotes of ``'quoted-key': ...``."""
    return key.strip("'").lower()


def _expand(node: Any, variables: dict[str, Any], depth: int = 0) -> Any:
    """``node`` with every identifier that names a variable replaced by the variable's value."""
    if depth > 20:
        return node
    if isinstance(node, str) and node in variables:
        return _expand(variables[node]["value"], variables, depth + 1)
    if isinstance(node, dict):
        return {k: _expand(v, variables, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, variables, depth + 1) for v in node]
    return node


def _all_keys(node: Any) -> Iterator[str]:
    """Every object key anywhere under ``node``, and every ``name`` value of an object in an array."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield _key(key)
            yield from _all_keys(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                yield _key(item["name"])
            yield from _all_keys(item)


def _config_name(config: dict[str, Any]) -> str:
    """``web`` or ``appsettings`` for a sites/config resource, also when written ``'${site.name}/appsettings'``."""
    name = config.get("name")
    return _key(name).rsplit("/", 1)[-1] if isinstance(name, str) else ""


def _parsed_findings(path: Path) -> Iterator[tuple[str, str]]:
    """(where, name) for each forbidden name the parsed template sets."""
    tree: dict[str, Any] = dict(BicepParser().parse(file_path=path))
    variables = tree.get("variables", {})
    for symbol, resource in tree.get("resources", {}).items():
        kind = resource["type"].lower()
        config = _expand(body(resource), variables)
        properties = config.get("properties")
        if not isinstance(properties, dict):
            properties = {}
        if kind in _SITE_TYPES:
            site_config = properties.get("siteConfig")
            site_config = site_config if isinstance(site_config, dict) else {}
            for key in [*properties, *site_config]:
                if _key(key) in _SITE_PROPERTIES:
                    yield f"{symbol}.properties", _SITE_PROPERTIES[_key(key)]
            for name in _all_keys(site_config.get("appSettings", [])):
                if name in _APP_SETTINGS:
                    yield f"{symbol}.properties.siteConfig.appSettings", _APP_SETTINGS[name]
        elif kind in _CONFIG_TYPES and _config_name(config) == "web":
            for name in _all_keys(config.get("properties")):
                if name in _SITE_PROPERTIES:
                    yield f"{symbol} (config 'web')", _SITE_PROPERTIES[name]
        elif kind in _CONFIG_TYPES and _config_name(config) == "appsettings":
            for name in _all_keys(config.get("properties")):
                if name in _APP_SETTINGS:
                    yield f"{symbol} (config 'appsettings')", _APP_SETTINGS[name]


def _without_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)  # keep line numbers
    return re.sub(r"(^|\s)//[^\n]*", r"\1", text)  # not the // of 'https://'


def _text_findings(path: Path) -> Iterator[tuple[str, str]]:
    """(where, name) for each forbidden name written as an object key or a ``name:`` value."""
    text = _without_comments(path.read_text())
    for name in [*FORBIDDEN_APP_SETTINGS, *FORBIDDEN_SITE_PROPERTIES]:
        if name in _TEXT_SCAN_SKIPS:
            continue
        as_key = rf"(?<![\w$.']){re.escape(name)}\s*:|'{re.escape(name)}'\s*:"
        as_name = rf"\bname\s*:\s*'{re.escape(name)}'"
        for match in re.finditer(f"{as_key}|{as_name}", text, flags=re.IGNORECASE):
            yield f"line {text.count(chr(10), 0, match.start()) + 1}", name


def flex_consumption_violations(root: Path) -> list[str]:
    """One line per forbidden setting in any .bicep file under ``root``, naming the file, the place and why."""
    found = set()
    for path in sorted(root.rglob("*.bicep")):
        for where, name in [*_parsed_findings(path), *_text_findings(path)]:
            reason = FORBIDDEN_APP_SETTINGS.get(name) or FORBIDDEN_SITE_PROPERTIES[name]
            found.add(f"{path.relative_to(root).as_posix()}: {where}: {name} ({reason})")
    return sorted(found)


def test_the_templates_set_nothing_flex_consumption_refuses() -> None:
    violations = flex_consumption_violations(INFRA)
    assert not violations, "not allowed on Flex Consumption:\n" + "\n".join(violations)


_OFFENDING = """
var timeZone = {
  WEBSITE_TIME_ZONE: 'UTC'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan'
  location: 'westus3'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  location: 'westus3'
  properties: {
    serverFarmId: plan.id
    reserved: true
    siteConfig: {
      ftpsState: 'Disabled'
      AlwaysOn: false
      appSettings: [
        {
          name: 'FUNCTIONS_WORKER_RUNTIME'
          value: 'python'
        }
      ]
    }
  }
  resource web 'config' = {
    name: 'web'
    properties: {
      linuxFxVersion: 'Python|3.11'
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(timeZone, {
    'WEBSITE_RUN_FROM_PACKAGE': '1'
    website_contentshare: 'share'
  })
}
"""


def test_each_kind_of_placement_is_refused_by_name(tmp_path: Path) -> None:
    """The checker finds a forbidden name in every place ARM reads one from, and says which and where."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    (copy / "app" / "offending.bicep").write_text(_OFFENDING)
    violations = flex_consumption_violations(copy)
    report = "\n".join(violations)
    for expected in (
        "app/offending.bicep: site.properties: ftpsState",
        "app/offending.bicep: site.properties: alwaysOn",
        "app/offending.bicep: site.properties: reserved",
        "app/offending.bicep: site.properties.siteConfig.appSettings: FUNCTIONS_WORKER_RUNTIME",
        "app/offending.bicep: site__web (config 'web'): linuxFxVersion",
        "app/offending.bicep: settings (config 'appsettings'): WEBSITE_RUN_FROM_PACKAGE",
        "app/offending.bicep: settings (config 'appsettings'): WEBSITE_CONTENTSHARE",
        "app/offending.bicep: settings (config 'appsettings'): WEBSITE_TIME_ZONE",
    ):
        assert any(v.startswith(expected + " (") for v in violations), f"{expected!r} not in:\n{report}"
    # The plan's `reserved: true` (Linux) is required and is not reported; every report is in the new file.
    assert all(v.startswith("app/offending.bicep: ") for v in violations), report
    assert not any(v.startswith("app/offending.bicep: plan") for v in violations), report


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("      FUNCTIONS_EXTENSION_VERSION: '~4'", "FUNCTIONS_EXTENSION_VERSION"),
        ("      'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING': 'x'", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"),
        ("      use32BitWorkerProcess: false", "use32BitWorkerProcess"),
    ],
)
def test_a_setting_added_to_the_real_template_fails_the_check(tmp_path: Path, line: str, name: str) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    target = copy / "app" / "function.bicep"
    source = target.read_text()
    anchor = "      minTlsVersion: '1.2'\n"
    assert anchor in source
    target.write_text(source.replace(anchor, anchor + line + "\n"))
    violations = flex_consumption_violations(copy)
    assert violations and all(f": {name} (" in v for v in violations), violations
    assert all(v.startswith("app/function.bicep: ") for v in violations), violations


def test_comments_and_urls_are_not_settings(tmp_path: Path) -> None:
    """Comments may name the forbidden settings (function.bicep's do), and URLs contain ``//``."""
    path = tmp_path / "ok.bicep"
    path.write_text(
        "// FUNCTIONS_WORKER_RUNTIME: must not be set, ftpsState: neither\n"
        "/* alwaysOn: true */\n"
        "var url = 'https://example.invalid/x' // TZ: no\n"
        "output u string = url\n"
    )
    assert flex_consumption_violations(tmp_path) == []
