"""`python -m services.webhooks`"""

from services.webhooks.app import main
from services.webhooks.settings import WebhooksSettings
from shared.service import run_service, settings_or_exit

settings = settings_or_exit("webhooks", WebhooksSettings)
run_service("webhooks", settings, lambda runtime: main(settings, runtime))
