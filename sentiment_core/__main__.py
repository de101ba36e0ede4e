"""`python -m sentiment_core ...`"""

from sentiment_core.cli import main

raise SystemExit(main())
