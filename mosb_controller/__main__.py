from mosb_controller.cli import main

raise SystemExit(main())
