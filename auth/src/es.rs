//! ES384 and ES512 behind jwt-compact's [`Algorithm`] trait, from RustCrypto's P-384 and P-521
//! (jwt-compact itself has ES256 only), so that every algorithm is verified the same way.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use jwt_compact::{Algorithm, AlgorithmSignature};
use p384::ecdsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use p384::elliptic_curve::rand_core::OsRng;
use sha2::{Digest, Sha384, Sha512};

macro_rules! ecdsa_alg {
    ($alg:ident, $sig:ident, $name:literal, $curve:ident, $digest:ident, $len:literal) => {
        #[doc = concat!("`", $name, "`: ECDSA on ", stringify!($curve), " with ", stringify!($digest), ".")]
        #[derive(Debug, Default, Clone, Copy)]
        pub struct $alg;

        #[doc = concat!("An `", $name, "` signature: `r || s`, ", stringify!($len), " bytes.")]
        #[derive(Debug)]
        pub struct $sig(Option<$curve::ecdsa::Signature>);

        impl AlgorithmSignature for $sig {
            const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new($len);

            fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
                $curve::ecdsa::Signature::from_slice(slice)
                    .map(|s| $sig(Some(s)))
                    .map_err(|e| anyhow::anyhow!(e))
            }

            fn as_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(self.0.map(|s| s.to_bytes().to_vec()).unwrap_or_default())
            }
        }

        impl Algorithm for $alg {
            type SigningKey = $curve::ecdsa::SigningKey;
            type VerifyingKey = $curve::ecdsa::VerifyingKey;
            type Signature = $sig;

            fn name(&self) -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            /// Signs (tests and tools only: the filter verifies). Should signing fail, the empty
            /// signature never verifies.
            fn sign(&self, key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
                $sig(key
                    .sign_prehash_with_rng(&mut OsRng, &$digest::digest(message))
                    .ok())
            }

            fn verify_signature(
                &self,
                signature: &Self::Signature,
                key: &Self::VerifyingKey,
                message: &[u8],
            ) -> bool {
                signature
                    .0
                    .is_some_and(|s| key.verify_prehash(&$digest::digest(message), &s).is_ok())
            }
        }
    };
}

ecdsa_alg!(Es384, Es384Signature, "ES384", p384, Sha384, 96);
ecdsa_alg!(Es512, Es512Signature, "ES512", p521, Sha512, 132);
