# As `makemigrations` writes it: nothing here knows about sealing per row.
from django.db import migrations

import integrations.fields


class Migration(migrations.Migration):
    dependencies = [("migrationsapp", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="device",
            name="token",
            field=integrations.fields.EncryptedTokenField(
                default="factory-token", purpose="migrationsapp.device.token"
            ),
        ),
        migrations.AddField(
            model_name="device",
            name="settings",
            field=integrations.fields.EncryptedJSONField(
                default=dict, purpose="migrationsapp.device.settings"
            ),
        ),
        migrations.AddField(
            model_name="device",
            name="note",
            field=integrations.fields.EncryptedTokenField(
                null=True, purpose="migrationsapp.device.note"
            ),
        ),
        migrations.AlterField(
            model_name="device",
            name="label",
            field=integrations.fields.EncryptedTokenField(
                default="unlabelled", purpose="migrationsapp.device.label"
            ),
        ),
        migrations.AddField(
            model_name="counter",
            name="token",
            field=integrations.fields.EncryptedTokenField(
                default="shared", purpose="migrationsapp.counter.token"
            ),
        ),
    ]
