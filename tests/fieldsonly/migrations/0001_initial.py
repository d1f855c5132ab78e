import uuid

from django.db import migrations, models

import integrations.fields


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Vault",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("name", models.CharField(max_length=50)),
                (
                    "api_key",
                    integrations.fields.EncryptedTokenField(
                        blank=True, null=True, purpose="fieldsonly.vault.api_key"
                    ),
                ),
                (
                    "config",
                    integrations.fields.EncryptedJSONField(
                        default=dict, purpose="fieldsonly.vault.config"
                    ),
                ),
            ],
        ),
    ]
