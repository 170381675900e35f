//! Known answers from go-datatrails-merklelog's `mmr/draft_kat39_test.go`: the 39-node MMR
//! of 21 leaves, where leaf e is SHA-256(u64be(index of leaf e)).

use crate::mmr::*;
use sha2::{Digest, Sha256};

const KAT39_NODES: [&str; 39] = [
    "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc",
    "cd2662154e6d76b2b2b92e70c0cac3ccf534f9b74eb5b89819ec509083d00a50",
    "ad104051c516812ea5874ca3ff06d0258303623d04307c41ec80a7a18b332ef8",
    "d5688a52d55a02ec4aea5ec1eadfffe1c9e0ee6a4ddbe2377f98326d42dfc975",
    "8005f02d43fa06e7d0585fb64c961d57e318b27a145c857bcd3a6bdb413ff7fc",
    "9a18d3bc0a7d505ef45f985992270914cc02b44c91ccabba448c546a4b70f0f0",
    "827f3213c1de0d4c6277caccc1eeca325e45dfe2c65adce1943774218db61f88",
    "a3eb8db89fc5123ccfd49585059f292bc40a1c0d550b860f24f84efb4760fbf2",
    "4c0e071832d527694adea57b50dd7b2164c2a47c02940dcf26fa07c44d6d222a",
    "b8faf5f748f149b04018491a51334499fd8b6060c42a835f361fa9665562d12d",
    "8d85f8467240628a94819b26bee26e3a9b2804334c63482deacec8d64ab4e1e7",
    "0b5000b73a53f0916c93c68f4b9b6ba8af5a10978634ae4f2237e1f3fbe324fa",
    "6f3360ad3e99ab4ba39f2cbaf13da56ead8c9e697b03b901532ced50f7030fea",
    "508326f17c5f2769338cb00105faba3bf7862ca1e5c9f63ba2287e1f3cf2807a",
    "78b2b4162eb2c58b229288bbcb5b7d97c7a1154eed3161905fb0f180eba6f112",
    "e66c57014a6156061ae669809ec5d735e484e8fcfd540e110c9b04f84c0b4504",
    "998e907bfbb34f71c66b6dc6c40fe98ca6d2d5a29755bc5a04824c36082a61d1",
    "f4a0db79de0fee128fbe95ecf3509646203909dc447ae911aa29416bf6fcba21",
    "5bc67471c189d78c76461dcab6141a733bdab3799d1d69e0c419119c92e82b3d",
    "1b8d0103e3a8d9ce8bda3bff71225be4b5bb18830466ae94f517321b7ecc6f94",
    "0a4d7e66c92de549b765d9e2191027ff2a4ea8a7bd3eb04b0ed8ee063bad1f70",
    "61b3ff808934301578c9ed7402e3dd7dfe98b630acdf26d1fd2698a3c4a22710",
    "7a42e3892368f826928202014a6ca95a3d8d846df25088da80018663edf96b1c",
    "aed2b8245fdc8acc45eda51abc7d07e612c25f05cadd1579f3474f0bf1f6bdc6",
    "dd7efba5f1824103f1fa820a5c9e6cd90a82cf123d88bd035c7e5da0aba8a9ae",
    "561f627b4213258dc8863498bb9b07c904c3c65a78c1a36bca329154d1ded213",
    "1209fe3bc3497e47376dfbd9df0600a17c63384c85f859671956d8289e5a0be8",
    "6b4a3bd095c63d1dffae1ac03eb8264fdce7d51d2ac26ad0ebf9847f5b9be230",
    "4459f4d6c764dbaa6ebad24b0a3df644d84c3527c961c64aab2e39c58e027eb1",
    "77651b3eec6774e62545ae04900c39a32841e2b4bac80e2ba93755115252aae1",
    "d4fb5649422ff2eaf7b1c0b851585a8cfd14fb08ce11addb30075a96309582a7",
    "1664a6e0ea12d234b4911d011800bb0f8c1101a0f9a49a91ee6e2493e34d8e7b",
    "707d56f1f282aee234577e650bea2e7b18bb6131a499582be18876aba99d4b60",
    "0c9f36783b5929d43c97fe4b170d12137e6950ef1b3a8bd254b15bbacbfdee7f",
    "4d75f61869104baa4ccff5be73311be9bdd6cc31779301dfc699479403c8a786",
    "0764c726a72f8e1d245f332a1d022fffdada0c4cb2a016886e4b33b66cb9a53f",
    "c861552e9e17c41447d375c37928f9fa5d387d1e8470678107781c20a97ebc8f",
    "6a169105dcc487dbbae5747a0fd9b1d33a40320cf91cf9a323579139e7ff72aa",
    "e9a5f5201eb3c3c856e0a224527af5ac7eb1767fb1aff9bd53ba41a60cde9785",
];

const KAT39_SIZES: [u64; 21] = [
    1, 3, 4, 7, 8, 10, 11, 15, 16, 18, 19, 22, 23, 25, 26, 31, 32, 34, 35, 38, 39,
];

fn kat_nodes() -> Vec<Hash> {
    KAT39_NODES
        .iter()
        .map(|h| hex::decode(h).expect("hex").try_into().expect("32 bytes"))
        .collect()
}

fn kat_leaf(e: u64) -> Hash {
    Sha256::digest(leaf_mmr_index(e).to_be_bytes()).into()
}

#[test]
fn appending_the_leaves_builds_every_node() -> anyhow::Result<()> {
    let mut log: Vec<Hash> = Vec::new();
    for e in 0..21 {
        let added = append(log.len() as u64, kat_leaf(e), &log)?;
        log.extend(added);
        assert_eq!(log.len() as u64, KAT39_SIZES[e as usize], "size after leaf {e}");
    }
    assert_eq!(log, kat_nodes());
    Ok(())
}

#[test]
fn a_head_that_keeps_only_its_peaks_builds_every_node() -> anyhow::Result<()> {
    let mut head = crate::head::LogHead {
        size: 0,
        last_id: 0,
        peaks: Vec::new(),
    };
    let mut log: Vec<Hash> = Vec::new();
    for e in 0..21 {
        log.extend(head.append(kat_leaf(e), e + 1)?);
        let expected: Vec<Hash> = peaks(head.size).iter().map(|i| log[*i as usize]).collect();
        assert_eq!((head.size, head.last_id), (log.len() as u64, e + 1));
        assert_eq!(head.peaks, expected, "peaks after leaf {e}");
    }
    assert_eq!(log, kat_nodes());
    Ok(())
}

#[test]
fn index_arithmetic() {
    let heights: Vec<u32> = (0..39).map(index_height).collect();
    assert_eq!(
        heights,
        [
            0, 0, 1, 0, 0, 1, 2, 0, 0, 1, 0, 0, 1, 2, 3, 0, 0, 1, 0, 0, 1, 2, 0, 0, 1, 0, 0, 1, 2, 3, 4, 0, 0, 1, 0, 0,
            1, 2, 0
        ]
    );
    let leaves: Vec<u64> = (0..21).map(leaf_mmr_index).collect();
    assert_eq!(
        leaves,
        [0, 1, 3, 4, 7, 8, 10, 11, 15, 16, 18, 19, 22, 23, 25, 26, 31, 32, 34, 35, 38]
    );
    let valid: Vec<u64> = (1..=39).filter(|s| is_valid_size(*s)).collect();
    assert_eq!(valid, KAT39_SIZES);
    for (size, count) in [
        (10, 6),
        (1, 1),
        (3, 2),
        (4, 3),
        (7, 4),
        (8, 5),
        (11, 7),
        (15, 8),
        (16, 9),
        (18, 10),
    ] {
        assert_eq!(leaf_count(size), count, "leaf_count({size})");
    }
    assert_eq!(peaks(11), [6, 9, 10]);
    assert_eq!(peaks(26), [14, 21, 24, 25]);
    assert_eq!(peaks(14), Vec::<u64>::new());
    assert_eq!(peaks(128), [126, 127]);
    assert_eq!(leaf_index(2), 1);
    assert_eq!(leaf_index(38), 20);
    assert_eq!(peak_index(18, 2, 1), 0, "node 6 in size 18 reaches peak 14");
}

#[test]
fn peaks_of_every_size() -> anyhow::Result<()> {
    let nodes = kat_nodes();
    for size in KAT39_SIZES {
        let expected: Vec<Hash> = peaks(size).iter().map(|i| nodes[*i as usize]).collect();
        assert_eq!(peak_hashes(size, &nodes)?, expected);
    }
    assert_eq!(hex::encode(peak_hashes(39, &nodes)?[1]), KAT39_NODES[37]);
    Ok(())
}

#[test]
fn inclusion_of_every_node_in_every_size() -> anyhow::Result<()> {
    let nodes = kat_nodes();
    assert_eq!(inclusion_path(39, 0), [1, 5, 13, 29]);
    assert_eq!(inclusion_path(26, 15), [16, 20]);
    assert_eq!(inclusion_path(25, 22), [23]);
    assert_eq!(inclusion_path(26, 2), [5, 13]);
    assert_eq!(inclusion_path(39, 34), [35, 33]);
    assert!(inclusion_path(39, 38).is_empty());
    for size in KAT39_SIZES {
        let accumulator = peak_hashes(size, &nodes)?;
        for i in 0..size {
            let proof = inclusion_proof(size, i, &nodes)?;
            assert!(
                verify_inclusion(size, &accumulator, i, &nodes[i as usize], &proof),
                "{i} in {size}"
            );
            let mut wrong = nodes[i as usize];
            wrong[0] ^= 1;
            assert!(
                !verify_inclusion(size, &accumulator, i, &wrong, &proof),
                "changed {i} in {size}"
            );
        }
    }
    Ok(())
}

#[test]
fn consistency_between_every_pair_of_sizes() -> anyhow::Result<()> {
    let nodes = kat_nodes();
    let proof = consistency_proof(11, 18, &nodes)?;
    let expected: Vec<Vec<Hash>> = [vec![13], vec![12, 6], vec![11, 9, 6]]
        .iter()
        .map(|path| path.iter().map(|i| nodes[*i]).collect())
        .collect();
    assert_eq!(proof, expected);
    for a in KAT39_SIZES {
        for b in KAT39_SIZES.into_iter().filter(|b| *b >= a) {
            let (peaks_a, peaks_b) = (peak_hashes(a, &nodes)?, peak_hashes(b, &nodes)?);
            let proof = consistency_proof(a, b, &nodes)?;
            assert!(verify_consistency(a, &peaks_a, b, &peaks_b, &proof), "{a} -> {b}");
            // A history that differs anywhere before A is refused.
            let mut forged = peaks_a.clone();
            forged[0][31] ^= 1;
            assert!(
                !verify_consistency(a, &forged, b, &peaks_b, &proof),
                "forged {a} -> {b}"
            );
        }
    }
    Ok(())
}
