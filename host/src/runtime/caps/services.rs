//! Service bindings: the `services` grant names the apps an app may call in the process. A
//! request a guest sends to `http://{name}.kiln.internal/…` reaches the service `name`, one to
//! `http://{name}.fn.kiln.internal/` the function `name`; no socket is opened and nothing is
//! parsed as HTTP. Where the call goes is the HTTP edge's business ([`Dispatch`]): the callee is
//! served as if called from outside (its own `enabled`, `jwt_check` and limits apply), told who
//! called it, never given more time than its caller has left, and a chain of calls stops at
//! [`MAX_DEPTH`].

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use super::{InstanceBuilder, Part};
use crate::kind::AppKind;

/// The domain under which granted apps are reached.
pub const DOMAIN: &str = ".kiln.internal";
/// The subdomain that names a function (`{name}.fn.kiln.internal`).
const FUNCTION: &str = ".fn";
/// The variable that names an instance's bindings (`USERS=users,BILLING=billing`).
pub const SERVICES_VARIABLE: &str = "KILN_SERVICES";
/// The header that tells a service which app called it (set by Kiln only).
pub const CALLER_HEADER: &str = "x-kiln-caller";
/// The longest chain of calls (A calls B calls C …) before a call is refused.
pub const MAX_DEPTH: u8 = 16;

/// What Kiln knows of the request an instance serves: who sent it (another app, or a client),
/// how deep in a chain of calls it is, when it must be done and which verified claims came
/// with it. Set by the HTTP edge for the task serving the request ([`scope`]).
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// The app that called, for a call between apps.
    pub caller: Option<Arc<str>>,
    /// Calls between this request and the client's (0 for a client's own request).
    pub depth: u8,
    /// When the caller must be done: the callee's deadline is never later.
    pub deadline: Option<Instant>,
    /// The claims of a verified token that came with the request (or with its caller's).
    pub claims: Option<Arc<crate::auth::Claims>>,
    /// The id of the client's request this one serves, itself or through calls (its log lines
    /// and its callees' carry it).
    pub trace: Option<Arc<str>>,
    /// What Kiln itself started the request for (`scheduled`), told to the app in
    /// [`EVENT_HEADER`]; none for a client's request or a call.
    pub event: Option<&'static str>,
}

/// The header that tells an app the request is an event Kiln started (`scheduled`), set by
/// Kiln only.
pub const EVENT_HEADER: &str = "x-kiln-event";

tokio::task_local! {
    static INBOUND: Inbound;
}

impl Inbound {
    /// The request the current task serves (a client's, with nothing known, outside any scope).
    pub fn current() -> Inbound {
        INBOUND.try_with(Clone::clone).unwrap_or_default()
    }

    /// Runs `serve` as the task serving this request.
    pub fn scope<F: Future>(self, serve: F) -> impl Future<Output = F::Output> {
        INBOUND.scope(self, serve)
    }
}

/// The response future of a call, as the wasi-http hooks return it.
pub type CallFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
            )>,
        > + Send,
>;

/// Where calls between apps go: the HTTP edge serves them with its own routes.
pub trait Dispatch: Send + Sync {
    /// Serves `request` (its URI the path below the callee) with the app `name` of `kind`, as
    /// the task of `inbound`.
    fn call(
        &self,
        kind: AppKind,
        name: &str,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        inbound: Inbound,
    ) -> CallFuture;
}

/// The `services` part: the app names granted, and where their calls go (absent when the node
/// serves one app alone, which has no other apps to call).
#[derive(Default, Clone)]
pub struct Services {
    granted: Arc<[Arc<str>]>,
    dispatch: Option<Arc<dyn Dispatch>>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("granted", &self.granted)
            .finish_non_exhaustive()
    }
}

/// The name an app is bound to in JavaScript's `env`: upper case, `-` as `_` (`user-db` →
/// `USER_DB`).
pub fn binding_name(app: &str) -> String {
    app.to_ascii_uppercase().replace('-', "_")
}

impl Services {
    /// A part granting calls to `granted` (validated app names), sent to `dispatch`.
    pub fn new(granted: &[String], dispatch: Option<Arc<dyn Dispatch>>) -> Self {
        Self {
            granted: granted
                .iter()
                .map(|name| Arc::from(name.as_str()))
                .collect(),
            dispatch,
        }
    }
}

impl Part for Services {
    type Instance = Option<Calls>;

    /// Names the bindings in `KILN_SERVICES` (`USERS=users`), which the engine reads and hides
    /// from the app.
    fn prepare(&self, instance: &mut InstanceBuilder<'_>) -> anyhow::Result<Option<Calls>> {
        if self.granted.is_empty() {
            return Ok(None);
        }
        let pairs: Vec<String> = self
            .granted
            .iter()
            .map(|name| format!("{}={name}", binding_name(name)))
            .collect();
        instance.wasi.env(SERVICES_VARIABLE, pairs.join(","));
        Ok(Some(Calls {
            app: instance.app.clone(),
            granted: self.granted.clone(),
            dispatch: self.dispatch.clone(),
            serving: Inbound::default(),
        }))
    }
}

/// An instance's calls to other apps.
pub struct Calls {
    app: Arc<str>,
    granted: Arc<[Arc<str>]>,
    dispatch: Option<Arc<dyn Dispatch>>,
    /// The request the instance serves now.
    serving: Inbound,
}

impl Calls {
    /// The instance starts serving the request of `inbound`.
    pub fn begin(&mut self, inbound: Inbound) {
        self.serving = inbound;
    }

    /// The app a request to `host` calls, if it names one under [`DOMAIN`] that was granted.
    pub fn target<'h>(&self, host: &'h str) -> Option<(AppKind, &'h str)> {
        let below = host.strip_suffix(DOMAIN)?;
        let (kind, name) = match below.strip_suffix(FUNCTION) {
            Some(name) => (AppKind::Function, name),
            None => (AppKind::Service, below),
        };
        self.granted
            .iter()
            .any(|granted| &**granted == name)
            .then_some((kind, name))
    }

    /// Calls the app `name` of `kind` with `request`: refused past [`MAX_DEPTH`], else given
    /// to the dispatcher with this instance's app as the caller, one level deeper, by the
    /// deadline of the request being served.
    pub fn call(
        &self,
        kind: AppKind,
        name: &str,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
    ) -> CallFuture {
        use wasmtime_wasi_http::Error;
        let depth = self.serving.depth + 1;
        if depth > MAX_DEPTH {
            let message = format!(
                "'{}' calling '{name}' was refused: the chain of calls between apps is deeper than {MAX_DEPTH}",
                self.app
            );
            tracing::warn!(app = %self.app, callee = name, "{message}");
            return Box::new(async move { Err(Error::InternalError(Some(message))) });
        }
        let Some(dispatch) = &self.dispatch else {
            let message = format!("'{name}' cannot be called: this node serves one app alone");
            return Box::new(async move { Err(Error::InternalError(Some(message))) });
        };
        let inbound = Inbound {
            caller: Some(self.app.clone()),
            depth,
            deadline: self.serving.deadline,
            claims: self.serving.claims.clone(),
            trace: self.serving.trace.clone(),
            event: None,
        };
        dispatch.call(kind, name, request, inbound)
    }
}
