import sys

if sys.argv[1:2] == ["universal"]:  # the client: skip the server's imports
    from feed_core.universal.command import main as universal_main

    sys.exit(universal_main(sys.argv[2:]))

from feed_core.cli import main

sys.exit(main())
