"""`python -m services.reaper`"""

from services.reaper.app import main
from services.reaper.settings import ReaperSettings
from shared.service import run_service, settings_or_exit

settings = settings_or_exit("reaper", ReaperSettings)
run_service("reaper", settings, lambda runtime: main(settings, runtime))
