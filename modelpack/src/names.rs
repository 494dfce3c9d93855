//! Checks on file names a remote lists (the Hub's siblings): names that
//! are distinct byte strings but the same file on common file systems
//! (case-insensitive macOS/Windows volumes, Unicode-normalising macOS),
//! and names or depths no file system takes. A layout holding both
//! `README.md` and `readme.md`, or an NFC and an NFD `café.md`, unpacks to
//! something other than the repo on those systems, so such listings are
//! refused with both names.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

/// Longest path accepted, in bytes (Linux `PATH_MAX` is 4096 with the
/// destination prefix; a repo path this long is hostile, not a model).
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest path component, in bytes (`NAME_MAX` of ext4, xfs, btrfs).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Deepest path accepted, in components.
pub const MAX_DEPTH: usize = 32;

/// Precomposed letters (Latin, Greek, Cyrillic) followed by their base
/// letter, pairwise: the canonical decomposition minus its combining marks,
/// generated with Python's `unicodedata.normalize("NFD", …)`.
const FOLD: &str = "ÀAÁAÂAÃAÄAÅAÇCÈEÉEÊEËEÌIÍIÎIÏIÑNÒOÓOÔOÕOÖOÙUÚUÛUÜUÝYàaáaâaãaäaåaçcèeéeêeëeìiíiîiïiñnòoóoôoõoöoùuúuûuüuýyÿyĀAāaĂAăaĄAąaĆCćcĈCĉcĊCċcČCčcĎDďdĒEēeĔEĕeĖEėeĘEęeĚEěeĜGĝgĞGğgĠGġgĢGģgĤHĥhĨIĩiĪIīiĬIĭiĮIįiİIĴJĵjĶKķkĹLĺlĻLļlĽLľlŃNńnŅNņnŇNňnŌOōoŎOŏoŐOőoŔRŕrŖRŗrŘRřrŚSśsŜSŝsŞSşsŠSšsŢTţtŤTťtŨUũuŪUūuŬUŭuŮUůuŰUűuŲUųuŴWŵwŶYŷyŸYŹZźzŻZżzŽZžzƠOơoƯUưuǍAǎaǏIǐiǑOǒoǓUǔuǕUǖuǗUǘuǙUǚuǛUǜuǞAǟaǠAǡaǢÆǣæǦGǧgǨKǩkǪOǫoǬOǭoǮƷǯʒǰjǴGǵgǸNǹnǺAǻaǼÆǽæǾØǿøȀAȁaȂAȃaȄEȅeȆEȇeȈIȉiȊIȋiȌOȍoȎOȏoȐRȑrȒRȓrȔUȕuȖUȗuȘSșsȚTțtȞHȟhȦAȧaȨEȩeȪOȫoȬOȭoȮOȯoȰOȱoȲYȳy΅¨ΆΑΈΕΉΗΊΙΌΟΎΥΏΩΐιΪΙΫΥάαέεήηίιΰυϊιϋυόούυώωϓϒϔϒЀЕЁЕЃГЇІЌКЍИЎУЙИйиѐеёеѓгїіќкѝиўуѶѴѷѵӁЖӂжӐАӑаӒАӓаӖЕӗеӚӘӛәӜЖӝжӞЗӟзӢИӣиӤИӥиӦОӧоӪӨӫөӬЭӭэӮУӯуӰУӱуӲУӳуӴЧӵчӸЫӹыḀAḁaḂBḃbḄBḅbḆBḇbḈCḉcḊDḋdḌDḍdḎDḏdḐDḑdḒDḓdḔEḕeḖEḗeḘEḙeḚEḛeḜEḝeḞFḟfḠGḡgḢHḣhḤHḥhḦHḧhḨHḩhḪHḫhḬIḭiḮIḯiḰKḱkḲKḳkḴKḵkḶLḷlḸLḹlḺLḻlḼLḽlḾMḿmṀMṁmṂMṃmṄNṅnṆNṇnṈNṉnṊNṋnṌOṍoṎOṏoṐOṑoṒOṓoṔPṕpṖPṗpṘRṙrṚRṛrṜRṝrṞRṟrṠSṡsṢSṣsṤSṥsṦSṧsṨSṩsṪTṫtṬTṭtṮTṯtṰTṱtṲUṳuṴUṵuṶUṷuṸUṹuṺUṻuṼVṽvṾVṿvẀWẁwẂWẃwẄWẅwẆWẇwẈWẉwẊXẋxẌXẍxẎYẏyẐZẑzẒZẓzẔZẕzẖhẗtẘwẙyẛſẠAạaẢAảaẤAấaẦAầaẨAẩaẪAẫaẬAậaẮAắaẰAằaẲAẳaẴAẵaẶAặaẸEẹeẺEẻeẼEẽeẾEếeỀEềeỂEểeỄEễeỆEệeỈIỉiỊIịiỌOọoỎOỏoỐOốoỒOồoỔOổoỖOỗoỘOộoỚOớoỜOờoỞOởoỠOỡoỢOợoỤUụuỦUủuỨUứuỪUừuỬUửuỮUữuỰUựuỲYỳyỴYỵyỶYỷyỸYỹy";

fn base_letter(c: char) -> char {
    if c.is_ascii() {
        return c;
    }
    let mut it = FOLD.chars();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        if a == c {
            return b;
        }
    }
    c
}

/// The name with case and accents folded away: two names with the same key
/// are the same file on a case-insensitive or normalising file system (and
/// NFC/NFD spellings of one name always share a key).
pub fn collision_key(name: &str) -> String {
    name.chars()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .map(base_letter)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Refuses a path longer than [`MAX_PATH_BYTES`], with a component over
/// [`MAX_COMPONENT_BYTES`], or deeper than [`MAX_DEPTH`].
pub fn check_length(path: &str) -> Result<()> {
    let shown: String = path.chars().take(80).collect();
    if path.len() > MAX_PATH_BYTES {
        bail!(
            "the file name {shown:?}… is {} bytes long, over the limit of {MAX_PATH_BYTES}",
            path.len()
        );
    }
    if let Some(c) = path.split('/').find(|c| c.len() > MAX_COMPONENT_BYTES) {
        let c: String = c.chars().take(40).collect();
        bail!("the file name {shown:?} has a component ({c:?}…) over {MAX_COMPONENT_BYTES} bytes, which no common file system stores");
    }
    let depth = path.split('/').count();
    if depth > MAX_DEPTH {
        bail!("the file name {shown:?} is {depth} folders deep, over the limit of {MAX_DEPTH}");
    }
    Ok(())
}

/// Refuses two names that differ only by case or Unicode normalisation
/// (also for folders on the way: `A/x` and `a/y` collide on `A` and `a`).
pub fn check_collisions<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<()> {
    // collision key of a folder or file → (its spelling, a path holding it)
    let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for path in paths {
        let ends = path.match_indices('/').map(|(i, _)| i).chain([path.len()]);
        for end in ends {
            let spelling = &path[..end];
            let (first, holder) = *seen
                .entry(collision_key(spelling))
                .or_insert((spelling, path));
            if first != spelling {
                bail!(
                    "the names {holder:?} and {path:?} differ only by case or Unicode normalisation ({first:?} vs {spelling:?}); they would be one file on macOS and Windows, so the model cannot be packaged faithfully; rename one in the repo, or leave one out with exclude"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfc_nfd_and_case_spellings_share_a_key() {
        assert_eq!(
            collision_key("caf\u{e9}.md"),
            collision_key("cafe\u{301}.md")
        );
        assert_eq!(collision_key("README.md"), collision_key("readme.md"));
        assert_eq!(
            collision_key("\u{c5}ngstr\u{f6}m"),
            collision_key("a\u{30a}ngstro\u{308}m")
        );
        assert_ne!(collision_key("a.md"), collision_key("b.md"));
    }

    #[test]
    fn colliding_names_are_refused_with_both_names() {
        let err = check_collisions(["caf\u{e9}.md", "cafe\u{301}.md"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("caf\u{e9}.md") && err.contains("Unicode"),
            "{err}"
        );
        assert!(check_collisions(["README.md", "readme.md"]).is_err());
        assert!(
            check_collisions(["Docs/a.md", "docs/b.md"]).is_err(),
            "folders collide too"
        );
        check_collisions(["docs/a.md", "docs/b.md", "docs2/a.md", "a.md", "a.md.bak"]).unwrap();
        check_collisions(["model-00001.safetensors", "model-00002.safetensors"]).unwrap();
    }

    #[test]
    fn overlong_names_are_refused() {
        check_length("a/b/c.bin").unwrap();
        assert!(check_length(&"x".repeat(256))
            .unwrap_err()
            .to_string()
            .contains("255 bytes"));
        assert!(check_length(&vec!["d"; 40].join("/"))
            .unwrap_err()
            .to_string()
            .contains("40 folders deep"));
        assert!(check_length(&vec!["d".repeat(200); 6].join("/"))
            .unwrap_err()
            .to_string()
            .contains("1024"));
    }
}
