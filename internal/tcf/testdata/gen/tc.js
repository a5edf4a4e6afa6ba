// Generates golden TC strings for gdprd's Go decoder with the IAB reference
// implementation. Deterministic: a seeded PRNG picks every field.
const {TCModel, TCString, GVL, PurposeRestriction, RestrictionType} = require('@iabtechlabtcf/core');
let seed = 20261128;
function rnd(n) { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; }
function pick(max, p) { const out = []; for (let i = 1; i <= max; i++) if (rnd(100) < p) out.push(i); return out; }
function gvlFor(maxVendor) {
  const named = (n) => { const o = {}; for (let i = 1; i <= n; i++) o[i] = {id: i, name: 'x' + i, description: 'd', illustrations: []}; return o; };
  const vendors = {};
  for (let i = 1; i <= maxVendor; i++) if (i === maxVendor || rnd(100) < 30) vendors[i] = {id: i, name: 'v' + i, purposes: [1], legIntPurposes: [2], flexiblePurposes: [], specialPurposes: [], features: [], specialFeatures: [], usesCookies: false, cookieRefresh: false, usesNonCookieAccess: false, urls: [], dataDeclaration: []};
  return new GVL({gvlSpecificationVersion: 3, vendorListVersion: 48, tcfPolicyVersion: 5, lastUpdated: '2025-06-01T00:00:00Z',
    purposes: named(11), specialPurposes: named(3), features: named(3), specialFeatures: named(2), stacks: {}, dataCategories: {}, vendors});
}
const out = [];
for (let n = 0; n < 60; n++) {
  const maxVendor = [5, 40, 300, 1200, 4000][rnd(5)];
  const m = new TCModel(gvlFor(maxVendor));
  m.cmpId = 1 + rnd(4000); m.cmpVersion = rnd(4000); m.consentScreen = rnd(63);
  m.consentLanguage = ['EN', 'DE', 'FR', 'IT', 'PL'][rnd(5)];
  m.publisherCountryCode = ['DE', 'FR', 'AA', 'NL'][rnd(4)];
  m.isServiceSpecific = true; m.useNonStandardTexts = rnd(2) === 1; m.purposeOneTreatment = rnd(2) === 1;
  m.created = new Date(Date.UTC(2025, rnd(12), 1 + rnd(28))); m.lastUpdated = m.created;
  m.purposeConsents.set(pick(11, 50)); m.purposeLegitimateInterests.set(pick(11, 30).filter(p => p < 3 || p > 6));
  m.specialFeatureOptins.set(pick(2, 50));
  // dense sets exercise the bitfield encoding, sparse runs the range encoding
  m.vendorConsents.set(pick(maxVendor, rnd(2) ? 60 : 3)); m.vendorLegitimateInterests.set(pick(maxVendor, rnd(2) ? 50 : 2));
  if (rnd(2)) { m.publisherConsents.set(pick(11, 40)); m.publisherLegitimateInterests.set(pick(11, 20)); }
  const vendorIds = Object.keys(m.gvl.vendors).map(Number);
  if (rnd(2)) m.vendorsDisclosed.set(vendorIds.filter(() => rnd(2)));
  const nres = rnd(3);
  for (let r = 0; r < nres; r++) {
    const pr = new PurposeRestriction(1 + rnd(11), [RestrictionType.NOT_ALLOWED, RestrictionType.REQUIRE_CONSENT, RestrictionType.REQUIRE_LI][rnd(3)]);
    for (const v of vendorIds) if (rnd(100) < 20) m.publisherRestrictions.add(v, pr);
  }
  const s = TCString.encode(m);
  const d = TCString.decode(s);
  const ids = (v) => { const a = []; v.forEach((on, id) => { if (on) a.push(id); }); return a; };
  const restrictions = [];
  d.publisherRestrictions.getRestrictions().forEach((pr) => {
    restrictions.push({purpose_id: pr.purposeId, restriction_type: pr.restrictionType, vendors: d.publisherRestrictions.getVendors(pr).sort((a, b) => a - b)});
  });
  restrictions.sort((a, b) => a.purpose_id - b.purpose_id || a.restriction_type - b.restriction_type);
  out.push({tc_string: s, decoded: {
    version: d.version, created: d.created.toISOString(), last_updated: d.lastUpdated.toISOString(),
    cmp_id: d.cmpId, cmp_version: d.cmpVersion, consent_screen: d.consentScreen, consent_language: d.consentLanguage,
    vendor_list_version: d.vendorListVersion, policy_version: d.policyVersion, is_service_specific: d.isServiceSpecific,
    use_non_standard_texts: d.useNonStandardTexts, special_feature_opt_ins: ids(d.specialFeatureOptins),
    purpose_consents: ids(d.purposeConsents), purpose_legitimate_interests: ids(d.purposeLegitimateInterests),
    purpose_one_treatment: d.purposeOneTreatment, publisher_country_code: d.publisherCountryCode,
    vendor_consents: ids(d.vendorConsents), vendor_legitimate_interests: ids(d.vendorLegitimateInterests),
    vendors_disclosed: ids(d.vendorsDisclosed), publisher_consents: ids(d.publisherConsents),
    publisher_legitimate_interests: ids(d.publisherLegitimateInterests), publisher_restrictions: restrictions}});
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
