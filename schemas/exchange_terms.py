"""The vocabulary of the relayed exchange between insurers: the schemes asked about, the data
categories, the purposes and the reasons a person in a request is not forwarded.

These are the words of the contracts and of the purpose policy; nothing here decides anything.
"""

from __future__ import annotations

from enum import StrEnum


class ExchangeScheme(StrEnum):
    """The scheme whose insurers a request reaches (DOMAIN §2, figure 5)."""

    MEDICAL = "medical"
    LONG_TERM_CARE = "long_term_care"
    PENSION = "pension"


class DataCategory(StrEnum):
    """What the asking insurer wants to know about its member from the other insurer."""

    QUALIFICATION = "qualification"  # 資格情報: covered or not, capacity, period
    SELF_PAY_AMOUNTS = "self_pay_amounts"  # 自己負担額 (高額医療・高額介護合算)
    INCOME_CATEGORY = "income_category"  # 所得区分
    BENEFITS_PAID = "benefits_paid"  # 給付の支給状況 (給付調整)
    PENSION_BENEFITS = "pension_benefits"  # 年金給付の支給状況 (併給調整)


class Purpose(StrEnum):
    """Why the asking insurer asks; the purpose policy allows a (role, scheme, category,
    purpose) only with the law that permits it."""

    ELIGIBILITY_CONFIRMATION = "eligibility_confirmation"  # 資格確認 (重複加入の解消を含む)
    COMBINED_HIGH_COST = "combined_high_cost"  # 高額医療・高額介護合算
    BENEFIT_COORDINATION = "benefit_coordination"  # 給付調整 (医療保険と介護保険・年金)
    PREMIUM_ASSESSMENT = "premium_assessment"  # 保険料の賦課 (所得区分)


class ForwardRefusal(StrEnum):
    """Why one person of a request, or a settlement of the 合算, is not forwarded (each answered
    on its own)."""

    NOT_MEMBER = "not_member"  # the asking insurer does not cover the person on the date
    UNKNOWN_NUMBER = "unknown_number"  # the relay knows no one by that number
    NOBODY_COVERED = "nobody_covered"  # no other insurer of the scheme covered them then
    PURPOSE_NOT_ALLOWED = "purpose_not_allowed"  # the purpose policy denies it
    BAD_SIGNATURE = "bad_signature"  # unsigned, forged, unknown or revoked signer
    EXPIRED = "expired"  # the request's deadline had passed on the relay clock
    RATE_LIMITED = "rate_limited"  # the asking insurer is over its allowance
    VERIFY_IDENTITY = "verify_identity"  # a link with an unresolved identity anomaly
    MALFORMED = "malformed"  # the entry (or the request) does not decode
    REPLAYED = "replayed"  # a request id the asker used before: answered when first seen
    NO_ENCRYPTION_KEY = "no_encryption_key"  # the asker holds no key answers could be sealed for
    NOT_PAYER = "not_payer"  # a settlement's payer never covered the person in the period
    CONFLICTING_DUPLICATE = "conflicting_duplicate"  # a settlement id routed with other content
    ALREADY_SETTLED = "already_settled"  # a first settlement where a chain of the same
    #   person, period, payer and benefit was routed already
    NOT_CHAIN_END = "not_chain_end"  # a delta not naming the last settlement the relay
    #   routed in its chain (or a chain of another sender)


class ExchangeOutcome(StrEnum):
    """What happened to one person of a request, as the asking insurer is told."""

    FORWARDED = "forwarded"
    REFUSED = "refused"
    ANSWERED = "answered"  # an answer from an insurer reached in time, sealed for the asker
    UNAVAILABLE = "unavailable"  # an insurer reached did not answer before the deadline
