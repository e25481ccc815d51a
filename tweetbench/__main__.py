from tweetbench.cli import main

raise SystemExit(main())
