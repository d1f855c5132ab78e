from oauth2_provider.oauth2_validators import OAuth2Validator


class DemoOAuth2Validator(OAuth2Validator):
    """Adds the standard profile and email claims to ID tokens and userinfo."""

    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "preferred_username": "profile",
        "name": "profile",
        "email": "email",
    }

    def get_additional_claims(self, request):
        user = request.user
        return {
            "preferred_username": user.get_username(),
            "name": user.get_full_name() or user.get_username(),
            "email": user.email,
        }
