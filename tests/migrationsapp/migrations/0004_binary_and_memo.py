from django.db import migrations

import integrations.fields


class Migration(migrations.Migration):
    dependencies = [("migrationsapp", "0003_blind_index")]

    operations = [
        migrations.AddField(
            model_name="device",
            name="secret",
            field=integrations.fields.EncryptedTokenField(
                binary=True, default="factory-secret", purpose="migrationsapp.device.secret"
            ),
        ),
        migrations.AddField(
            model_name="device",
            name="memo",
            field=integrations.fields.EncryptedTokenField(
                null=True, purpose="migrationsapp.device.memo"
            ),
        ),
    ]
