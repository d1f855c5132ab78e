from integrations.sealed.resealing import LEGACY

from ._reseal import ResealCommand


class Command(ResealCommand):
    help = (
        "Seal every legacy plaintext value stored in a sealed field, in batches. Works "
        "whatever ALLOW_PLAINTEXT_READS says; run it again to resume."
    )
    mode = LEGACY
    command_name = "encrypt_legacy"
