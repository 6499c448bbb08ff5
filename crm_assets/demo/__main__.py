from crm_assets.demo.run import main

main()
