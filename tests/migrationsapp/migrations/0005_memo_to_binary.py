# A sealed text column moved to the binary storage, keeping its purpose
# (docs/how-to/move-a-column-to-binary.md).
from django.db import migrations

import integrations.fields
from integrations.sealed.to_binary import copy_sealed


class Migration(migrations.Migration):
    dependencies = [("migrationsapp", "0004_binary_and_memo")]

    operations = [
        migrations.AddField(
            model_name="device",
            name="memo_binary",
            field=integrations.fields.EncryptedTokenField(
                binary=True, null=True, purpose="migrationsapp.device.memo"
            ),
        ),
        migrations.RunPython(
            copy_sealed("migrationsapp.Device", "memo", "memo_binary"),
            copy_sealed("migrationsapp.Device", "memo_binary", "memo"),
        ),
        migrations.RemoveField(model_name="device", name="memo"),
        migrations.RenameField(model_name="device", old_name="memo_binary", new_name="memo"),
    ]
