//! The emitter side of the `hf-get-many` step (`modelpack_steps::hf_get_many`,
//! which holds its runner, the download list's format and why it is a
//! step): the exec op that downloads a list of Hub files in one step of
//! our own image, keyed by the list itself.

use llb::{Exec, FileOp, Mount, NetMode, State};

use modelpack_steps::hf_get::{TOKEN_PATH, TOKEN_SECRET_ID};
use modelpack_steps::hf_get_many::NAME;
pub use modelpack_steps::hf_get_many::{Download, DownloadList, PackedDownload, PACKED_FILE};
use modelpack_steps::BINARY;

/// Where the step finds its download list.
const LIST_DIR: &str = "/in";
/// The list's file name inside [`LIST_DIR`]: JSON, compressed so that
/// lists of thousands of files keep the solve request small
/// ([`modelpack::compact`]).
const LIST_FILE: &str = "downloads.json.zst";

/// How the step reaches the Hub.
pub struct StepNetwork {
    /// The step's network mode (`download_network`).
    pub mode: NetMode,
    /// Mount the `hf-token` secret (the step then sends it to the endpoint).
    pub token: bool,
    /// Proxy variables (not part of the cache key).
    pub proxy: llb::proto::pb::ProxyEnv,
}

/// A download step's outputs.
pub struct Step {
    /// The downloaded files, each at `/<path>` (or at its layer's blob path).
    pub tree: State,
    /// Holds [`PACKED_FILE`] when some files were written as layers.
    pub meta: Option<State>,
}

/// A step of `image` that downloads `list` into its output, each file at
/// `/<path>`. The list is written into the graph, so the step's cache key
/// is the list itself.
pub fn step(image: &State, list: &DownloadList, net: &StepNetwork, progress: &str) -> Step {
    let json = serde_json::to_vec(list).expect("a download list serializes");
    let input = FileOp::new(State::scratch())
        .mkfile(
            &format!("/{LIST_FILE}"),
            0o644,
            modelpack::compact::compress(&json),
        )
        .custom_name(&format!("list {} file(s) to download", list.files.len()))
        .into_state();
    let list_path = format!("{LIST_DIR}/{LIST_FILE}");
    let packs = list.files.iter().any(|d| d.layer.is_some());
    let mut args = vec![BINARY, NAME, list_path.as_str(), "/out"];
    if packs {
        args.push("/meta");
    }
    let mut exec = Exec::new(image, args)
        .network(net.mode)
        .mount(Mount::bind(LIST_DIR, &input).readonly())
        .mount(Mount::bind("/out", &State::scratch()))
        .proxy_env(net.proxy.clone())
        .custom_name(progress);
    if packs {
        exec = exec.mount(Mount::bind("/meta", &State::scratch()));
    }
    if net.token {
        exec = exec.mount(Mount::secret(TOKEN_PATH, TOKEN_SECRET_ID, true));
    }
    let node = exec.build();
    Step {
        tree: node.output("/out").expect("/out is a writable mount"),
        meta: packs.then(|| node.output("/meta").expect("/meta is a writable mount")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelpack_hub::download::LayerSpec;

    use llb::proto::pb::{self, op::Op as Kind};
    use prost::Message;

    fn ops(state: &State) -> Vec<pb::Op> {
        state
            .to_definition()
            .def
            .iter()
            .map(|b| pb::Op::decode(b.as_slice()).unwrap())
            .collect()
    }

    fn list(n: usize) -> DownloadList {
        DownloadList {
            connections: 4,
            files: (0..n)
                .map(|i| Download {
                    url: format!("http://h/o/r/resolve/{}/f{i}.json", "c".repeat(40)),
                    path: format!("d/f{i}.json"),
                    git_sha1: Some(format!("{i:040x}")),
                    sha256: None,
                    layer: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_step_is_keyed_by_its_list_and_mounts_the_token_only_when_asked() {
        let image = llb::source::image("localhost:5000/modelpack-frontend:dev").into_state();
        let anonymous = StepNetwork {
            mode: NetMode::Host,
            token: false,
            proxy: Default::default(),
        };
        let a = step(&image, &list(3), &anonymous, "fetch").tree;
        let again = step(&image, &list(3), &anonymous, "fetch").tree;
        assert_eq!(
            a.to_definition().def,
            again.to_definition().def,
            "same list, same definition"
        );
        let mut other = list(3);
        other.files[1].git_sha1 = Some("f".repeat(40));
        assert_ne!(
            a.to_definition().def,
            step(&image, &other, &anonymous, "fetch")
                .tree
                .to_definition()
                .def
        );

        let all = ops(&a);
        let mkfile = all
            .iter()
            .find_map(|o| match &o.op {
                Some(Kind::File(f)) => f.actions.iter().find_map(|a| match &a.action {
                    Some(pb::file_action::Action::Mkfile(m)) => Some(m.clone()),
                    _ => None,
                }),
                _ => None,
            })
            .expect("the list is written by the graph");
        let written: DownloadList =
            serde_json::from_slice(&modelpack::compact::expand(&mkfile.data, "list").unwrap())
                .unwrap();
        assert_eq!(written, list(3));
        let exec = all
            .iter()
            .find_map(|o| match &o.op {
                Some(Kind::Exec(e)) => Some(e.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            exec.meta.as_ref().unwrap().args,
            [BINARY, "hf-get-many", "/in/downloads.json.zst", "/out"]
        );
        assert!(exec.mounts.iter().all(|m| m.dest != TOKEN_PATH));
        assert_eq!(exec.network, pb::NetMode::Host as i32);

        assert_eq!(
            exec.meta.as_ref().unwrap().proxy_env,
            None,
            "no proxy build args, no proxy"
        );

        let proxy = pb::ProxyEnv {
            https_proxy: "http://proxy.internal:3128".into(),
            no_proxy: "localhost".into(),
            ..Default::default()
        };
        let via_proxy = step(
            &image,
            &list(3),
            &StepNetwork {
                mode: NetMode::Host,
                token: false,
                proxy: proxy.clone(),
            },
            "fetch",
        )
        .tree;
        let exec = ops(&via_proxy)
            .into_iter()
            .find_map(|o| match o.op {
                Some(Kind::Exec(e)) => Some(e),
                _ => None,
            })
            .unwrap();
        let meta = exec.meta.unwrap();
        assert_eq!(
            meta.proxy_env,
            Some(proxy),
            "proxies go where BuildKit keeps them out of the cache key"
        );
        assert!(
            meta.env.is_empty(),
            "and not into the environment, which is part of it"
        );

        let with_token = step(
            &image,
            &list(3),
            &StepNetwork {
                mode: NetMode::Sandbox,
                token: true,
                proxy: Default::default(),
            },
            "fetch",
        )
        .tree;
        let exec = ops(&with_token)
            .into_iter()
            .find_map(|o| match o.op {
                Some(Kind::Exec(e)) => Some(e),
                _ => None,
            })
            .unwrap();
        let secret = exec
            .mounts
            .iter()
            .find(|m| m.dest == TOKEN_PATH)
            .expect("secret mount");
        assert_eq!(secret.mount_type, pb::MountType::Secret as i32);
        assert!(
            exec.meta.unwrap().env.is_empty(),
            "the token never travels in the environment"
        );
    }

    #[test]
    fn a_list_with_layers_gets_a_meta_output_and_one_without_does_not() {
        let image = llb::source::image("localhost:5000/modelpack-frontend:dev").into_state();
        let net = StepNetwork {
            mode: NetMode::Host,
            token: false,
            proxy: Default::default(),
        };
        assert!(step(&image, &list(2), &net, "fetch").meta.is_none());
        let mut with_layer = list(2);
        with_layer.files[1].sha256 = Some("a".repeat(64));
        with_layer.files[1].layer = Some(LayerSpec {
            format: "tar".into(),
            name: "w.safetensors".into(),
            mode: 0o644,
            size: 3,
        });
        let s = step(&image, &with_layer, &net, "fetch");
        let meta = s.meta.expect("a meta output");
        let exec = ops(&meta)
            .into_iter()
            .find_map(|o| match o.op {
                Some(Kind::Exec(e)) => Some(e),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            exec.meta.unwrap().args,
            [
                BINARY,
                "hf-get-many",
                "/in/downloads.json.zst",
                "/out",
                "/meta"
            ]
        );
        assert!(exec.mounts.iter().any(|m| m.dest == "/meta" && !m.readonly));
    }
}
