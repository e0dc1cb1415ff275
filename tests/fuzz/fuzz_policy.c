/* Fuzzes the entitlement policy document (an API body today, a control-plane bundle's payload
 * later): JSON text into ob_access_policy_from_json. Checks that an accepted policy is
 * consistent (the default class exists, ttl within max, every range's prefix within its
 * family) and that its JSON form reads back to the same policy. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "access/entitle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_consistent(const struct ob_access_policy *p)
{
	if (!ob_access_policy_risk(p, p->default_risk) || p->risk_count == 0 ||
	    p->risk_count > OB_RISK_CLASSES_MAX || p->network_count > OB_NETWORKS_MAX)
		abort();
	for (size_t i = 0; i < p->risk_count; i++)
		if (p->risk[i].ttl_s < 30 || p->risk[i].max_ttl_s < p->risk[i].ttl_s)
			abort();
	for (size_t i = 0; i < p->network_count; i++)
		if (p->networks[i].prefix > (p->networks[i].family == AF_INET ? 32u : 128u))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ob_access_policy policy;
	struct ob_access_policy again;
	char err[512];
	json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

	if (!doc)
		return 0;
	if (ob_access_policy_from_json(doc, &policy, err, sizeof(err)) == 0) {
		json_t *shown;

		check_consistent(&policy);
		shown = ob_access_policy_to_json(&policy);
		if (!shown || ob_access_policy_from_json(shown, &again, err, sizeof(err)) != 0 ||
		    again.risk_count != policy.risk_count ||
		    again.network_count != policy.network_count ||
		    memcmp(again.networks, policy.networks,
			   policy.network_count * sizeof(policy.networks[0])) != 0 ||
		    strcmp(again.default_risk, policy.default_risk) != 0)
			abort();
		json_decref(shown);
	} else if (err[0] == '\0') {
		abort(); /* a refusal always says why */
	}
	json_decref(doc);
	return 0;
}
