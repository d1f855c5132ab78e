"""How a project registers its own model: a plain ModelAdmin, no customisation."""

from django.contrib import admin

from .models import Connection

admin.site.register(Connection)
