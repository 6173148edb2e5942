"""`python -m services.gateway`"""

from services.gateway.app import main
from services.gateway.settings import GatewaySettings
from shared.service import run_service, settings_or_exit

settings = settings_or_exit("gateway", GatewaySettings)
run_service("gateway", settings, lambda runtime: main(settings, runtime), serve_health=False)
