import uuid

from django.db import models

from integrations.fields import EncryptedJSONField, EncryptedTokenField


class Vault(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=50)
    api_key = EncryptedTokenField(
        purpose="fieldsonly.vault.api_key", null=True, blank=True, searchable=True, unique=True
    )
    config = EncryptedJSONField(purpose="fieldsonly.vault.config", default=dict)
