//! How a download reaches the Hub: anonymously, as BuildKit HTTP sources
//! that buildkitd fetches, or, once the Hub refused, with the `hf-token`
//! secret mounted into steps of our own image (`hf-get`); and which network
//! the download steps get, with whether they may give way to HTTP sources
//! on an engine that cannot run them.

use llb::{Exec, Mount, NetMode, State};

use crate::buildkit_errors::{classify_error, Cause};
use crate::gateway::{GatewayError, Solve};
use crate::hf_get_many;
use crate::options::{DownloadNetwork, Request};
use crate::steps::BINARY;
use modelpack_hub::download::Expect;
use modelpack_steps::hf_get::{TOKEN_PATH, TOKEN_SECRET_ID};

/// How files and API answers are fetched.
pub struct Fetcher {
    /// The root of our steps ([`crate::steps::own_image`]).
    pub image: State,
    /// Whether the `hf-token` secret is mounted (the second attempt).
    pub token: bool,
    network: NetMode,
    /// Proxy variables for the download steps (not in their cache keys).
    proxy: llb::proto::pb::ProxyEnv,
}

impl Fetcher {
    /// Downloads as `request` says (network, proxies), with the token
    /// secret mounted or not.
    pub fn new(image: State, request: &Request, token: bool) -> Self {
        let network = match request.download_network {
            DownloadNetwork::Default => NetMode::Sandbox,
            DownloadNetwork::Host => NetMode::Host,
        };
        Fetcher {
            image,
            token,
            network,
            proxy: request.proxy.clone(),
        }
    }

    /// A state holding the body of `url` at `/<name>`, checked against
    /// `expect`. `retry` gives a variant that BuildKit does not serve from
    /// its HTTP cache under the same entry as the first try.
    pub fn file(
        &self,
        url: &str,
        name: &str,
        expect: &Expect,
        progress: &str,
        fresh: bool,
        retry: bool,
    ) -> State {
        if !self.token {
            let mut src = llb::source::http(url).filename(name).custom_name(progress);
            if let Expect::Sha256(s) = expect {
                src = src.checksum(&format!("sha256:{s}"));
            }
            if retry {
                // BuildKit keys its ETag cache on file name and permissions.
                src = src.perm(0o644);
            }
            return src.into_state();
        }
        let out = format!("/out/{name}");
        let expected = expect.arg();
        let mut args = vec![BINARY, modelpack_steps::hf_get::NAME, url, &out];
        if let Some(e) = &expected {
            args.push(e);
        }
        let mut step = Exec::new(&self.image, args)
            .network(self.network)
            .mount(Mount::secret(TOKEN_PATH, TOKEN_SECRET_ID, true))
            .mount(Mount::bind("/out", &State::scratch()))
            .proxy_env(self.proxy.clone())
            .custom_name(progress);
        if fresh {
            step = step.ignore_cache();
        }
        step.build().output("/out").expect("writable mount")
    }

    pub async fn read(
        &self,
        bridge: &dyn Solve,
        url: &str,
        progress: &str,
    ) -> Result<Vec<u8>, GatewayError> {
        let state = self.file(url, "answer.json", &Expect::Anything, progress, true, false);
        let r = bridge.solve_evaluated(state.to_definition()).await?;
        bridge.read_file(&r, "answer.json").await
    }
}

/// How a download step of our image reaches the Hub, and whether it is
/// optional: without a token and with the default network, the steps are
/// an optimisation; when the engine cannot run them (no default network,
/// or a Hub on this host's loopback and no `--allow network.host`), the
/// files come as BuildKit HTTP sources instead, as they always could.
pub(super) fn step_network(
    request: &Request,
    fetcher: &Fetcher,
) -> (bool, hf_get_many::StepNetwork) {
    let optional = !fetcher.token && request.download_network == DownloadNetwork::Default;
    let mode = if optional && modelpack::urlsource::is_loopback_url(&request.hf_endpoint) {
        // A sandboxed step cannot reach the host's loopback; BuildKit's own
        // HTTP sources (fetched by the daemon) can.
        NetMode::Host
    } else {
        fetcher.network
    };
    (
        optional,
        hf_get_many::StepNetwork {
            mode,
            token: fetcher.token,
            proxy: fetcher.proxy.clone(),
        },
    )
}

/// Whether a failed optional step should give way to BuildKit HTTP sources.
pub(super) fn engine_cannot_run_step(optional: bool, e: &GatewayError) -> bool {
    optional
        && matches!(
            classify_error(e),
            Cause::NoBridgeNetwork | Cause::HostNetworkNotAllowed
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    use llb::proto::pb::{self, op::Op as Kind};
    use prost::Message;

    fn head_op(state: &State) -> pb::Op {
        let def = state.to_definition();
        let terminal = pb::Op::decode(def.def.last().unwrap().as_slice()).unwrap();
        let head = def
            .def
            .iter()
            .find(|b| llb::digest_of(b) == terminal.inputs[0].digest)
            .unwrap();
        pb::Op::decode(head.as_slice()).unwrap()
    }

    fn fetcher(token: bool) -> Fetcher {
        let image = llb::source::image("localhost:5000/modelpack-frontend:dev").into_state();
        Fetcher {
            image,
            token,
            network: NetMode::Host,
            proxy: Default::default(),
        }
    }

    #[test]
    fn without_a_token_files_are_http_sources_verified_by_checksum() {
        let sha = "ab".repeat(32);
        let expect = Expect::Sha256(sha.clone());
        let op = head_op(&fetcher(false).file(
            "http://h/o/r/resolve/c/w.bin",
            "w.bin",
            &expect,
            "fetch w.bin",
            false,
            false,
        ));
        let Some(Kind::Source(src)) = op.op else {
            panic!("an http source")
        };
        assert_eq!(src.identifier, "http://h/o/r/resolve/c/w.bin");
        assert_eq!(src.attrs["http.checksum"], format!("sha256:{sha}"));
        assert_eq!(src.attrs["http.filename"], "w.bin");
        assert!(!src.attrs.contains_key("http.perm"));
        let retry = head_op(&fetcher(false).file(
            "http://h/x",
            "x",
            &Expect::Anything,
            "fetch x again",
            false,
            true,
        ));
        let Some(Kind::Source(src)) = retry.op else {
            panic!("an http source")
        };
        assert_eq!(
            src.attrs["http.perm"], "0644",
            "a retry is a different BuildKit cache entry"
        );
    }

    #[test]
    fn with_a_token_a_step_of_our_image_downloads_with_the_secret_mounted() {
        let sha = "cd".repeat(32);
        let expect = Expect::Sha256(sha.clone());
        let state = fetcher(true).file(
            "http://h/o/r/resolve/c/w.bin",
            "w.bin",
            &expect,
            "fetch w.bin",
            false,
            false,
        );
        let op = head_op(&state);
        let Some(Kind::Exec(exec)) = op.op else {
            panic!("an exec step")
        };
        let meta = exec.meta.unwrap();
        let expected = format!("sha256:{sha}");
        assert_eq!(
            meta.args,
            [
                BINARY,
                "hf-get",
                "http://h/o/r/resolve/c/w.bin",
                "/out/w.bin",
                expected.as_str()
            ]
        );
        assert!(
            meta.env.is_empty(),
            "the token never travels in the environment"
        );
        assert_eq!(exec.network, pb::NetMode::Host as i32);
        let secret = exec
            .mounts
            .iter()
            .find(|m| m.dest == TOKEN_PATH)
            .expect("secret mount");
        assert_eq!(secret.mount_type, pb::MountType::Secret as i32);
        assert_eq!(secret.secret_opt.as_ref().unwrap().id, TOKEN_SECRET_ID);
    }
}
