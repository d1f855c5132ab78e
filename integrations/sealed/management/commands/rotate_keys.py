from integrations.sealed.resealing import ROTATE

from ._reseal import ResealCommand


class Command(ResealCommand):
    help = (
        "Re-seal every value sealed with an older key under the primary key, in batches. "
        "Safe while the app runs and in several processes at once; run it again to resume."
    )
    mode = ROTATE
    command_name = "rotate_keys"
