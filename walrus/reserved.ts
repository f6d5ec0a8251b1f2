// Bucket names the cloud keeps for itself. Bucket names are one namespace for
// every account (as S3's), so a name the cloud will use for an account must not
// be taken by another account first: it could squat it (the owner's images can
// then not be stored) or fill it with objects the owner never put there.
//
//   images-<account id>   each account's machine images (scripts/bootstrap.ts
//                         stores the test guest of the admin account there)

const IMAGES = /^images-(\d{12})$/;

/** The bucket the cloud keeps an account's images in. */
export function imagesBucketName(accountId: string): string {
  return `images-${accountId}`;
}

/** The account a reserved bucket name belongs to, or undefined when anyone may take the name. */
export function reservedBucketOwner(name: string): string | undefined {
  return IMAGES.exec(name)?.[1];
}

/** May this account create a bucket of this name? (Only the owner of a reserved name may.) */
export function mayCreateBucket(name: string, accountId: string): boolean {
  const owner = reservedBucketOwner(name);
  return owner === undefined || owner === accountId;
}
