//! The OpenAPI document's shared parts: its root (info, the bearer security scheme, the tags of
//! the kit's own routes). Each domain's router adds its paths and tags.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::error;

/// The OpenAPI document's root: info, security scheme, tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "PosMul API",
        version = "1",
        description = "Accounts and sign-in (password, Sign-In with Ethereum), roles, the PMP \
            ledger, PMC credits and wallet views. Errors are RFC 9457 problem+json with a stable \
            `type` per kind (https://posmul.dev/problems/<kind>). Lists use cursor pagination."
    ),
    modifiers(&BearerAuth),
    components(schemas(error::Problem, error::FieldError)),
    tags(
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "auth", description = "Registration, sign-in, tokens, SIWE (U2)"),
        (name = "me", description = "The signed-in user: profile, wallet link"),
        (name = "users", description = "Public profiles"),
        (name = "admin", description = "Roles and the audit log (admin only)"),
    )
)]
pub struct ApiDoc;

pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
