-- Where the payer goes back to once the pack's points have landed: a same-site path (the video page
-- they started buying from), checked by accounts' safe_next before it is stored; '' means the wallet.
ALTER TABLE wallet_purchases ADD COLUMN return_path text NOT NULL DEFAULT ''
    CHECK (return_path = '' OR (left(return_path, 1) = '/' AND left(return_path, 2) <> '//' AND length(return_path) <= 500));
