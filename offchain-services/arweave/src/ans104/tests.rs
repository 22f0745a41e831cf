use super::*;
use crate::wallet::tests::test_wallet;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn item(data: &'static [u8]) -> DataItem {
    let tags = vec![
        Tag::new("Content-Type", "text/plain"),
        Tag::new("App-Name", "SDV"),
    ];
    DataItem::sign(&test_wallet(), data, tags, Some([7; 32]), Some([9; 32])).unwrap()
}

/// Where the tags start in an item with a target and an anchor.
const TAGS_START: usize = 2 + 512 + 512 + 33 + 33;

// Expected bytes from arbundles 0.6.23 `serializeTags` (avsc).
#[test]
fn tags_encode_as_arbundles_serialize_tags() {
    assert_eq!(
        hex(&encode_tags(&[Tag::new("Content-Type", "text/plain")])),
        "0218436f6e74656e742d5479706514746578742f706c61696e00"
    );
    let tags = [
        Tag::new("a", "b"),
        Tag::new("App-Name", "x".repeat(100)),
        Tag::new("ü", ""),
    ];
    let expected = format!(
        "0602610262104170702d4e616d65c801{}04c3bc0000",
        "78".repeat(100)
    );
    assert_eq!(hex(&encode_tags(&tags)), expected);
    assert_eq!(decode_tags(&encode_tags(&tags)).unwrap(), tags);
    let many: Vec<Tag> = (0..70).map(|i| Tag::new(format!("n{i}"), "v")).collect();
    assert_eq!(encode_tags(&many).len(), 413, "arbundles: 826 hex digits");
    assert_eq!(decode_tags(&encode_tags(&many)).unwrap(), many);
    assert!(encode_tags(&[]).is_empty());
}

#[test]
fn tags_in_several_avro_blocks_decode() {
    // A block of one tag with a negative count and its byte size, then a positive block.
    let mut bytes = Vec::new();
    write_long(&mut bytes, -1);
    write_long(&mut bytes, 4);
    write_bytes(&mut bytes, b"a");
    write_bytes(&mut bytes, b"b");
    write_long(&mut bytes, 1);
    write_bytes(&mut bytes, b"c");
    write_bytes(&mut bytes, b"d");
    write_long(&mut bytes, 0);
    assert_eq!(
        decode_tags(&bytes).unwrap(),
        [Tag::new("a", "b"), Tag::new("c", "d")]
    );
}

#[test]
fn bad_tag_bytes_are_errors() {
    let good = encode_tags(&[Tag::new("a", "b")]);
    // Missing terminator, trailing byte, a string past the end, a huge count.
    assert!(decode_tags(&good[..good.len() - 1]).is_err());
    assert!(decode_tags(&[&good[..], &[0]].concat()).is_err());
    assert!(decode_tags(&[0x02, 0x20, b'a']).is_err());
    assert!(decode_tags(&[0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00]).is_err());
    assert!(decode_tags(&[0xff; 11]).is_err());
}

#[test]
fn signed_item_round_trips_and_verifies() {
    let item = item(b"document bytes");
    item.verify().unwrap();
    assert_eq!(item.id(), sha256(item.signature()));
    let bytes = item.to_bytes();
    assert_eq!(bytes.len(), item.encoded_len());
    let parsed = DataItem::parse(&bytes).unwrap();
    assert_eq!(parsed, item);
    parsed.verify().unwrap();
    assert_eq!(parsed.target(), Some([7; 32]));
    assert_eq!(parsed.anchor(), Some([9; 32]));
    assert_eq!(parsed.tags()[1], Tag::new("App-Name", "SDV"));
    assert_eq!(&parsed.data()[..], b"document bytes");
    assert_eq!(parsed.owner_address(), test_wallet().address());

    let bare = DataItem::sign(&test_wallet(), Bytes::new(), vec![], None, None).unwrap();
    let parsed = DataItem::parse(&bare.to_bytes()).unwrap();
    assert_eq!(parsed, bare);
    parsed.verify().unwrap();
    assert_eq!(bare.to_bytes().len(), 2 + 512 + 512 + 1 + 1 + 16);
}

#[test]
fn forged_items_fail_verification() {
    let bytes = item(b"document bytes").to_bytes();
    let mut forged = bytes.clone();
    forged[2 + 100] ^= 1; // a signature byte
    assert!(matches!(
        DataItem::parse(&forged).unwrap().verify(),
        Err(Error::InvalidSignature)
    ));
    let mut forged = bytes.clone();
    *forged.last_mut().unwrap() ^= 1; // a data byte
    assert!(matches!(
        DataItem::parse(&forged).unwrap().verify(),
        Err(Error::InvalidSignature)
    ));
    let mut forged = bytes.clone();
    forged[2 + 512 + 512 + 1] ^= 1; // a target byte
    assert!(matches!(
        DataItem::parse(&forged).unwrap().verify(),
        Err(Error::InvalidSignature)
    ));
    let claimed = DataItem::parse_with_id(&bytes, [1; 32]).unwrap();
    assert!(matches!(claimed.verify(), Err(Error::IdMismatch { .. })));
}

#[test]
fn malformed_items_are_errors() {
    let bytes = item(b"data").to_bytes();
    let parse = |bytes: &[u8]| match DataItem::parse(bytes) {
        Err(Error::InvalidDataItem(error)) => error,
        other => panic!("expected an invalid data item, got {other:?}"),
    };
    assert_eq!(
        parse(&[]),
        DataItemError::Truncated {
            field: "signature type"
        }
    );
    assert_eq!(
        parse(&bytes[..600]),
        DataItemError::Truncated { field: "owner" }
    );
    assert_eq!(
        parse(&bytes[..TAGS_START + 10]),
        DataItemError::Truncated {
            field: "number of tag bytes"
        }
    );

    let mut other_type = bytes.clone();
    other_type[0] = 2;
    assert_eq!(
        parse(&other_type),
        DataItemError::UnsupportedSignatureType(2)
    );

    let mut bad_presence = bytes.clone();
    bad_presence[2 + 512 + 512] = 2;
    assert_eq!(
        parse(&bad_presence),
        DataItemError::InvalidPresenceByte {
            field: "target",
            value: 2
        }
    );

    let mut bad_count = bytes.clone();
    bad_count[TAGS_START] = 3;
    assert_eq!(
        parse(&bad_count),
        DataItemError::TagCountMismatch {
            declared: 3,
            decoded: 2
        }
    );

    let mut huge_tag_bytes = bytes.clone();
    huge_tag_bytes[TAGS_START + 8..TAGS_START + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        parse(&huge_tag_bytes),
        DataItemError::InvalidTag(TagError::EncodedTooLarge { len: usize::MAX })
    );
    let mut long_tag_bytes = bytes.clone();
    long_tag_bytes[TAGS_START + 8..TAGS_START + 16].copy_from_slice(&4000u64.to_le_bytes());
    assert_eq!(
        parse(&long_tag_bytes),
        DataItemError::Truncated { field: "tags" }
    );

    // Tag bytes one shorter: the Avro array no longer ends where the tags end.
    let mut short_tags = bytes.clone();
    let len = u64::from_le_bytes(bytes[TAGS_START + 8..TAGS_START + 16].try_into().unwrap());
    short_tags[TAGS_START + 8..TAGS_START + 16].copy_from_slice(&(len - 1).to_le_bytes());
    assert!(matches!(
        parse(&short_tags),
        DataItemError::InvalidTagEncoding { .. }
    ));
}

#[test]
fn tags_beyond_ans104_limits_are_refused() {
    let wallet = test_wallet();
    let sign = |tags: Vec<Tag>| DataItem::sign(&wallet, &b"x"[..], tags, None, None);
    let too_many: Vec<Tag> = (0..129).map(|i| Tag::new(format!("n{i}"), "v")).collect();
    assert!(matches!(
        sign(too_many),
        Err(Error::InvalidTag(TagError::TooMany { count: 129 }))
    ));
    assert!(matches!(
        sign(vec![Tag::new("", "v")]),
        Err(Error::InvalidTag(TagError::Empty { index: 0 }))
    ));
    assert!(matches!(
        sign(vec![Tag::new("a", "b"), Tag::new(vec![b'n'; 1025], "v")]),
        Err(Error::InvalidTag(TagError::NameTooLong {
            index: 1,
            len: 1025
        }))
    ));
    assert!(matches!(
        sign(vec![Tag::new("n", vec![b'v'; 3073])]),
        Err(Error::InvalidTag(TagError::ValueTooLong {
            index: 0,
            len: 3073
        }))
    ));
    // Within the ANS-104 limits but beyond arbundles's 4096 encoded bytes.
    let big: Vec<Tag> = (0..100)
        .map(|i| Tag::new(format!("name-{i}"), "é".repeat(i + 1)))
        .collect();
    assert!(
        matches!(sign(big), Err(Error::InvalidTag(TagError::EncodedTooLarge { len })) if len > 10_000)
    );
    sign(vec![Tag::new(vec![b'n'; 1000], vec![b'v'; 3072])]).unwrap();
    assert!(matches!(
        sign(vec![Tag::new(vec![b'n'; 1024], vec![b'v'; 3072])]),
        Err(Error::InvalidTag(TagError::EncodedTooLarge { len: 4102 }))
    ));
}

#[test]
fn bundle_round_trips() {
    let items = vec![item(b"one"), item(b""), item(b"three")];
    let bytes = Bundle::build(&items);
    assert_eq!(&bytes[..32], &u256_le(3));
    assert_eq!(&bytes[32..64], &u256_le(items[0].encoded_len() as u64));
    assert_eq!(&bytes[64..96], &items[0].id());
    let parsed = Bundle::parse(&bytes).unwrap();
    assert_eq!(parsed, items);
    parsed.iter().for_each(|item| item.verify().unwrap());
    assert_eq!(Bundle::parse(&Bundle::build(&[])).unwrap(), []);
    assert_eq!(
        Bundle::tags(),
        [
            Tag::new("Bundle-Format", "binary"),
            Tag::new("Bundle-Version", "2.0.0")
        ]
    );
}

#[test]
fn malformed_bundles_are_errors() {
    let items = vec![item(b"one"), item(b"two")];
    let bytes = Bundle::build(&items);
    let parse = |bytes: &[u8]| match Bundle::parse(bytes) {
        Err(Error::InvalidBundle(error)) => error,
        other => panic!("expected an invalid bundle, got {other:?}"),
    };
    assert_eq!(
        parse(&bytes[..31]),
        BundleError::Truncated { what: "item count" }
    );
    assert_eq!(
        parse(&bytes[..bytes.len() - 1]),
        BundleError::Truncated { what: "an item" }
    );
    assert_eq!(
        parse(&[&bytes[..], b"x"].concat()),
        BundleError::TrailingBytes { extra: 1 }
    );

    let mut huge_count = bytes.clone();
    huge_count[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        parse(&huge_count),
        BundleError::Truncated {
            what: "item headers"
        }
    );
    let mut wide_count = bytes.clone();
    wide_count[31] = 1;
    assert_eq!(
        parse(&wide_count),
        BundleError::NumberTooLarge { what: "item count" }
    );

    let mut wrong_id = bytes.clone();
    wrong_id[32 + 64 + 32] ^= 1;
    assert!(matches!(
        parse(&wrong_id),
        BundleError::IdMismatch { index: 1, .. }
    ));

    let mut bad_item = bytes.clone();
    bad_item[32 + 128] = 5; // the first item's signature type
    assert_eq!(
        parse(&bad_item),
        BundleError::Item {
            index: 0,
            source: DataItemError::UnsupportedSignatureType(5)
        }
    );
}

// Fixtures written by arbundles 0.6.23 (`createData` + `ArweaveSigner` with the test wallet,
// `bundleAndSignData`); arbundles reports both valid.
#[test]
fn items_and_bundles_of_arbundles_parse_and_verify() {
    let item = DataItem::parse(include_bytes!("../../testdata/arbundles-item.bin")).unwrap();
    item.verify().unwrap();
    assert_eq!(
        item.id_b64url(),
        "RiwqFDt406a0wYrXgjXJBMmD5pH3wKYO7kQGOqpWzxc"
    );
    assert_eq!(&item.data()[..], b"signed by arbundles");
    assert_eq!(item.target(), Some([7; 32]));
    assert_eq!(item.anchor(), Some(*b"abcdefghijklmnopqrstuvwxyz012345"));
    assert_eq!(
        item.tags(),
        [
            Tag::new("Content-Type", "text/plain"),
            Tag::new("App-Name", "SDV")
        ]
    );
    assert_eq!(item.owner_address(), test_wallet().address());
    assert_eq!(
        item.to_bytes(),
        include_bytes!("../../testdata/arbundles-item.bin")
    );

    let bundle = include_bytes!("../../testdata/arbundles-bundle.bin");
    let items = Bundle::parse(bundle).unwrap();
    let ids: Vec<String> = items.iter().map(DataItem::id_b64url).collect();
    assert_eq!(
        ids,
        [
            "SvgZk73nQb4sH6_i4-cQ3tsitvNDhccZ5wHR0Cf1K_s",
            "k_tsnVdmvOBY7WxzlNMZ6udX0Rx0usepismwdpy5eVo"
        ]
    );
    items.iter().for_each(|item| item.verify().unwrap());
    assert_eq!(&items[1].data()[..], &[3; 1000][..]);
    assert_eq!(Bundle::build(&items), bundle);
}
