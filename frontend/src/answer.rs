//! What a subrequest (`--call targets`, `outline`, `lint`, …) answers,
//! shared by `subrequests` and the recipe's part of the outline
//! (`recipe_outline`).

use serde_json::Value;

/// An answer: `result.json`, `result.txt` and further metadata.
pub type Answer = (Value, String, Vec<(String, Vec<u8>)>);
