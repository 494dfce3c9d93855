//! A fake gateway for unit tests (the [`Solve`] trait without a daemon):
//! it answers solves and file reads by looking at the LLB it is given, as
//! a test tells it (an HTTP source for a URL fails with a given BuildKit
//! error text, a step's file holds given JSON), and records every solve,
//! so a test can assert on what a flow solved as well as on what it
//! returned.

use std::cell::RefCell;
use std::collections::BTreeMap;

use anyhow::anyhow;
use llb::proto::google::rpc::Status;
use llb::proto::pb::{self, op::Op as Kind};
use prost::Message;

use crate::gateway::{Call, FrontendAnswer, FrontendSolve, GatewayError, Reference, Solve};

/// One op of a solved graph, with its progress name.
#[derive(Clone, Debug)]
pub struct Node {
    /// The op as sent.
    pub op: pb::Op,
    /// Its `llb.customname`, or "".
    pub name: String,
}

impl Node {
    /// The URL of an HTTP source.
    pub fn http_url(&self) -> Option<&str> {
        match &self.op.op {
            Some(Kind::Source(s)) if s.identifier.starts_with("http") => Some(&s.identifier),
            _ => None,
        }
    }

    /// An HTTP source's attribute (`http.checksum`, `http.filename`, …).
    pub fn http_attr(&self, key: &str) -> Option<&str> {
        match &self.op.op {
            Some(Kind::Source(s)) => s.attrs.get(key).map(String::as_str),
            _ => None,
        }
    }

    /// The argv of an exec step.
    pub fn args(&self) -> Option<&[String]> {
        match &self.op.op {
            Some(Kind::Exec(e)) => e.meta.as_ref().map(|m| m.args.as_slice()),
            _ => None,
        }
    }

    /// Whether this is a step running our binary's subcommand `sub`
    /// (`hf-get`, `scan`, …).
    pub fn runs(&self, sub: &str) -> bool {
        self.args()
            .is_some_and(|a| a.get(1).map(String::as_str) == Some(sub))
    }

    /// Whether an exec step mounts the `hf-token` secret.
    pub fn mounts_token(&self) -> bool {
        match &self.op.op {
            Some(Kind::Exec(e)) => e.mounts.iter().any(|m| {
                m.mount_type == pb::MountType::Secret as i32
                    && m.secret_opt.as_ref().map(|s| s.id.as_str())
                        == Some(modelpack_steps::hf_get::TOKEN_SECRET_ID)
            }),
            _ => false,
        }
    }
}

/// A solve the fake received.
#[derive(Clone, Debug)]
pub struct Solved {
    /// Every op of the graph, in the definition's order.
    pub nodes: Vec<Node>,
    /// The op whose output was solved.
    pub head: Option<Node>,
    /// Sent with `evaluate` (or as the build's result).
    pub evaluated: bool,
    /// Sent as the build's result ([`Solve::solve_result`]).
    pub result: bool,
    /// The error it failed with.
    pub failed: Option<String>,
}

type Pred = Box<dyn Fn(&Node) -> bool>;

enum Rule {
    /// A solve whose graph holds a matching op fails with this text.
    Fail(Pred, String),
    /// A file of a solved ref whose head op matches.
    File(Pred, String, Vec<u8>),
}

/// The fake: rules first, then the record of what was solved.
#[derive(Default)]
pub struct FakeGateway {
    rules: Vec<Rule>,
    solves: RefCell<Vec<Solved>>,
    frontend_answer: Option<(llb::State, BTreeMap<String, Vec<u8>>)>,
    frontend_solves: RefCell<Vec<FrontendSolve>>,
    /// The client's frontend inputs ([`Solve::frontend_inputs`]).
    inputs: BTreeMap<String, pb::Definition>,
    /// How many times the inputs were asked for.
    inputs_asked: RefCell<usize>,
    /// The optional LLB capabilities the engine offers.
    caps: Vec<String>,
}

impl FakeGateway {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every solve whose graph holds an op matching `pred` fails with
    /// `message` (as BuildKit fails a graph when one of its ops does).
    pub fn fail_when(mut self, pred: impl Fn(&Node) -> bool + 'static, message: &str) -> Self {
        self.rules
            .push(Rule::Fail(Box::new(pred), message.to_string()));
        self
    }

    /// Reading `path` from a ref whose head op matches `pred` gives `bytes`.
    pub fn file_when(
        mut self,
        pred: impl Fn(&Node) -> bool + 'static,
        path: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> Self {
        self.rules
            .push(Rule::File(Box::new(pred), path.to_string(), bytes.into()));
        self
    }

    /// A frontend solve ([`Solve::solve_frontend`]) answers the definition
    /// of `state` with `metadata`.
    pub fn frontend_answers(
        mut self,
        state: llb::State,
        metadata: BTreeMap<String, Vec<u8>>,
    ) -> Self {
        self.frontend_answer = Some((state, metadata));
        self
    }

    /// The client sent the frontend `inputs` ([`Solve::frontend_inputs`]).
    pub fn with_inputs(mut self, inputs: BTreeMap<String, pb::Definition>) -> Self {
        self.inputs = inputs;
        self
    }

    /// How many times the frontend's inputs were asked for.
    pub fn inputs_asked(&self) -> usize {
        *self.inputs_asked.borrow()
    }

    /// Every frontend solve so far, in order.
    pub fn frontend_solves(&self) -> Vec<FrontendSolve> {
        self.frontend_solves.borrow().clone()
    }

    /// The engine offers the LLB capability `cap` (e.g. MergeOp).
    pub fn with_llb_cap(mut self, cap: &str) -> Self {
        self.caps.push(cap.to_string());
        self
    }

    /// Every solve so far, in order.
    pub fn solves(&self) -> Vec<Solved> {
        self.solves.borrow().clone()
    }

    /// Every op of every successful solve, in order.
    pub fn solved_nodes(&self) -> Vec<Node> {
        self.solves
            .borrow()
            .iter()
            .filter(|s| s.failed.is_none())
            .flat_map(|s| s.nodes.clone())
            .collect()
    }

    fn record(
        &self,
        def: &pb::Definition,
        evaluated: bool,
        result: bool,
    ) -> Result<Reference, GatewayError> {
        let nodes: Vec<Node> = def
            .def
            .iter()
            .map(|bytes| {
                let op = pb::Op::decode(bytes.as_slice()).expect("an op the builder marshalled");
                let name = def
                    .metadata
                    .get(&llb::digest_of(bytes))
                    .and_then(|m| m.description.get("llb.customname"))
                    .cloned()
                    .unwrap_or_default();
                Node { op, name }
            })
            .collect();
        // The terminal op (no kind of its own) points at the head.
        let head = def.def.last().and_then(|last| {
            let terminal = pb::Op::decode(last.as_slice()).ok()?;
            let input = terminal.inputs.first()?;
            def.def
                .iter()
                .position(|b| llb::digest_of(b) == input.digest)
                .map(|i| nodes[i].clone())
        });
        let failed = self.rules.iter().find_map(|rule| match rule {
            Rule::Fail(pred, message) if nodes.iter().any(pred) => Some(message.clone()),
            _ => None,
        });
        let mut solves = self.solves.borrow_mut();
        solves.push(Solved {
            nodes,
            head,
            evaluated,
            result,
            failed: failed.clone(),
        });
        match failed {
            Some(message) => Err(GatewayError::Remote(Status {
                code: 2,
                message,
                details: Vec::new(),
            })),
            None => Ok(Reference(format!("fake-{}", solves.len() - 1))),
        }
    }

    fn read(&self, r: &Reference, path: &str) -> Result<Vec<u8>, GatewayError> {
        let solves = self.solves.borrow();
        let solved =
            r.0.strip_prefix("fake-")
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| solves.get(i))
                .ok_or_else(|| GatewayError::Local(anyhow!("fake: unknown ref {}", r.0)))?;
        let head = solved.head.as_ref();
        self.rules
            .iter()
            .find_map(|rule| match rule {
                Rule::File(pred, p, bytes) if p == path && head.is_some_and(pred) => {
                    Some(bytes.clone())
                }
                _ => None,
            })
            .ok_or_else(|| {
                GatewayError::Local(anyhow!(
                    "fake: no {path} in the result of {:?}",
                    head.map(|h| (&h.name, h.args()))
                ))
            })
    }
}

impl Solve for FakeGateway {
    fn solve(&self, def: pb::Definition) -> Call<'_, Reference> {
        let r = self.record(&def, false, false);
        Box::pin(async move { r })
    }

    fn solve_evaluated(&self, def: pb::Definition) -> Call<'_, Reference> {
        let r = self.record(&def, true, false);
        Box::pin(async move { r })
    }

    fn solve_result<'a>(&'a self, result: &'a llb::State) -> Call<'a, Reference> {
        let r = self.record(&result.to_definition(), true, true);
        Box::pin(async move { r })
    }

    fn read_file_bounded<'a>(
        &'a self,
        r: &'a Reference,
        path: &'a str,
        max: usize,
    ) -> Call<'a, Vec<u8>> {
        let read = self.read(r, path).and_then(|bytes| {
            if bytes.len() > max {
                Err(GatewayError::Local(anyhow!(
                    "fake: {path} is larger than {max} bytes"
                )))
            } else {
                Ok(bytes)
            }
        });
        Box::pin(async move { read })
    }

    fn solve_frontend<'a>(&'a self, request: &'a FrontendSolve) -> Call<'a, FrontendAnswer> {
        self.frontend_solves.borrow_mut().push(request.clone());
        let answer = match &self.frontend_answer {
            Some((state, metadata)) => Ok(FrontendAnswer {
                def: state.to_definition(),
                metadata: metadata.clone(),
            }),
            None => Err(GatewayError::Local(anyhow!(
                "fake: no answer for a {} solve",
                request.frontend
            ))),
        };
        Box::pin(async move { answer })
    }

    fn frontend_inputs(&self) -> Call<'_, BTreeMap<String, pb::Definition>> {
        *self.inputs_asked.borrow_mut() += 1;
        let inputs = self.inputs.clone();
        Box::pin(async move { Ok(inputs) })
    }

    fn resolve_image_config<'a>(
        &'a self,
        reference: &'a str,
        _platform: &'a pb::Platform,
    ) -> Call<'a, (String, Vec<u8>)> {
        Box::pin(async move {
            Err(GatewayError::Local(anyhow!(
                "fake: cannot resolve {reference}"
            )))
        })
    }

    /// An engine with none of the optional capabilities (no MergeOp)
    /// but those given by [`FakeGateway::with_llb_cap`].
    fn has_llb_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    fn require_caps(&self, _llb: &[&str], _api: &[&str]) -> anyhow::Result<()> {
        Ok(())
    }

    fn worker_platform(&self) -> Option<pb::Platform> {
        None
    }

    fn frontend_image(&self) -> anyhow::Result<llb::State> {
        Ok(llb::source::image("localhost:5000/modelpack-frontend:fake").into_state())
    }
}
