"""`python -m services.auditor`"""

from services.auditor.app import main
from services.auditor.settings import AuditorSettings
from shared.service import run_service, settings_or_exit

settings = settings_or_exit("auditor", AuditorSettings)
run_service("auditor", settings, lambda runtime: main(settings, runtime))
