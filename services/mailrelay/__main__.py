"""`python -m services.mailrelay`"""

from services.mailrelay.app import main
from services.mailrelay.settings import MailRelaySettings
from shared.service import run_service, settings_or_exit

settings = settings_or_exit("mailrelay", MailRelaySettings)
run_service("mailrelay", settings, lambda runtime: main(settings, runtime))
