"""`python -m crm_assets.project_files`: what this install reads."""

from crm_assets.project_files import main

main()
