"""Blank the plaintext of every access and refresh token the demo server issued
before it switched to hashed storage (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE).

django-oauth-toolkit finds tokens by their SHA-256 checksum (``token_checksum``,
filled by its own migrations), so the rows keep working; only the live copies
of tokens the Integration keeps sealed go away.
"""

from django.db import migrations


def redact(apps, schema_editor):
    db = schema_editor.connection.alias
    for name in ("AccessToken", "RefreshToken"):
        model = apps.get_model("oauth2_provider", name)
        model.objects.using(db).exclude(token="").update(token="")


class Migration(migrations.Migration):
    dependencies = [
        ("demo_provider", "0001_oauth1_server"),
        ("oauth2_provider", "0015_refreshtoken_token_checksum"),
    ]

    operations = [migrations.RunPython(redact, migrations.RunPython.noop)]
