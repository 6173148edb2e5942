"""`python -m services.reaper`"""

from services.reaper.app import main
from services.reaper.settings import ReaperSettings
from shared.service import run_service, settings_or_exit
from shared.settings import ObjectStoreSettings

settings = settings_or_exit("reaper", ReaperSettings)
# Read only when backups are on: a reaper without them needs no bucket.
storage = settings_or_exit("reaper", ObjectStoreSettings) if settings.backups_enabled else None
run_service("reaper", settings, lambda runtime: main(settings, runtime, storage))
