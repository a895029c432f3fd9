//! The OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! annotations so it cannot drift from the code. `docs/openapi.json` is a
//! copy; a test fails when they differ (`CAIRN_UPDATE_OPENAPI=1` rewrites it).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "cairn serve", description = "The backup service's REST API. \
        Every endpoint but health and this document needs `Authorization: Bearer TOKEN` \
        (tokens: `cairn serve token create --name NAME --scope SCOPE`). Scopes: read \
        (list, status, stats, download), backup (read + start backups, checks, cleanups, \
        tests, cancel), restore (read + restore), admin (all). Errors are \
        `{\"error\": ..., \"field\": ...}`: 401 without a valid token, 403 without the scope, \
        404 for an unknown plan, repository or job named in the path, 400 for other bad \
        input (an unknown snapshot among it), 413 for a body over 64 KiB."),
    paths(
        super::meta::health, super::meta::openapi, super::meta::metrics,
        super::plans::list, super::plans::show, super::plans::run, super::plans::cleanup,
        super::jobs::list, super::jobs::show, super::jobs::log, super::jobs::cancel,
        super::jobs::events,
        super::repos::list, super::repos::test, super::repos::stats, super::repos::check,
        super::restore::start,
        super::snapshots::list, super::snapshots::show, super::snapshots::files,
        super::download::download,
    ),
    components(schemas(crate::serve::model::JobEvent, crate::serve::model::JobStatus,
        crate::serve::model::JobKind, crate::serve::auth::Scope)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let scheme =
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        api.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", scheme);
    }
}

/// The document as `docs/openapi.json` holds it.
#[cfg(test)]
pub fn json() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    /// `docs/openapi.json` is the generated document. After changing the
    /// API: `CAIRN_UPDATE_OPENAPI=1 cargo test --bin cairn openapi` rewrites it.
    #[test]
    fn docs_openapi_json_is_the_generated_document() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
        let generated = super::json();
        if std::env::var_os("CAIRN_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == generated,
            "docs/openapi.json differs from the API's generated document; \
             regenerate it with: CAIRN_UPDATE_OPENAPI=1 cargo test --bin cairn openapi"
        );
    }
}
