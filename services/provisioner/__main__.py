"""`python -m services.provisioner`"""

from services.provisioner.app import main
from services.provisioner.settings import ProvisionerSettings
from shared.service import run_service, settings_or_exit

settings = settings_or_exit("provisioner", ProvisionerSettings)
run_service("provisioner", settings, lambda runtime: main(settings, runtime))
