"""One process racing to insert a searchable unique value (tests/sealed/test_searchable.py):
prints "created" or the name of the error the database raised."""

import os
import sys
import time
from pathlib import Path

import django


def main(value, ready, go):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    from django.db import IntegrityError

    from tests.testapp.models import Customer

    Customer.objects.exists()  # connected and warmed up before the start
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    try:
        Customer.objects.create(name="process", api_key=value)
    except IntegrityError:
        print("IntegrityError")
    else:
        print("created")


if __name__ == "__main__":
    main(*sys.argv[1:4])
