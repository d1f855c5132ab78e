"""The API scenario's world, made once inside an app host before the load:
``--users`` users, each with an API token, integrations on an OAuth provider
(the bed's fake provider) and credentials of an API-key provider.

Run by the bed (``python -m benchmarks.scale.seed_api --users 200 --out FILE``)
with the bed's environment; the API tokens go to ``FILE`` (mode 0600, in the
bed's temporary folder, removed with it), never to the output.
"""

import argparse
import json
import os
import secrets
import sys


def seed(users, integrations_each, credentials_each, provider_url):
    from django.contrib.auth import get_user_model

    from integrations import credentials, tokens
    from integrations.api.api_tokens import create_api_token
    from integrations.models import Provider

    oauth, _ = Provider.objects.get_or_create(
        slug="bed-oauth",
        defaults={
            "name": "Bed OAuth",
            "category": Provider.Category.STORAGE,
            "auth_type": Provider.AuthType.OAUTH2,
            "authorize_url": f"{provider_url}/authorize",
            "token_url": f"{provider_url}/token",
            "client_id": "fake-client",
        },
    )
    keys, _ = Provider.objects.get_or_create(
        slug="bed-keys",
        defaults={
            "name": "Bed Keys",
            "category": Provider.Category.EMAIL,
            "auth_type": Provider.AuthType.API_KEY,
        },
    )
    model = get_user_model()
    api_tokens = []
    for i in range(users):
        user, _ = model.objects.get_or_create(username=f"load-{i:04d}")
        for j in range(integrations_each):
            tokens.connect(
                user,
                oauth,
                {
                    "access_token": secrets.token_urlsafe(24),
                    "refresh_token": secrets.token_urlsafe(24),
                    "expires_in": 3600,
                    "scope": "read",
                },
                external_account_id=f"load-{i:04d}-{j}",
                label=f"Account {j}",
            )
        for j in range(credentials_each):
            credentials.create_credential(
                user,
                name=f"seeded-{j}",
                credential_type="api_key",
                data={"api_key": secrets.token_urlsafe(24)},
                provider=keys,
            )
        token, _expires = create_api_token(user)
        api_tokens.append(token)
    return {"tokens": api_tokens, "keys_provider": str(keys.pk)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--integrations", type=int, default=3)
    parser.add_argument("--credentials", type=int, default=3)
    parser.add_argument("--provider-url", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    world = seed(args.users, args.integrations, args.credentials, args.provider_url)
    descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(world, out)
    print(f"seeded {args.users} users")
    return 0


if __name__ == "__main__":
    sys.exit(main())
