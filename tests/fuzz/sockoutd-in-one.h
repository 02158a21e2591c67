/* SPDX-License-Identifier: MIT */
/*
 * sockoutd-in-one.h - every source of sockoutd except main.c, compiled
 * into one fuzz target (so static functions are reachable), plus the
 * globals main.c would provide.  A new dispatcher file is added here once,
 * not in each target.
 */
#ifndef SOCKOUT_FUZZ_SOCKOUTD_IN_ONE_H
#define SOCKOUT_FUZZ_SOCKOUTD_IN_ONE_H

#include "../../dispatcher/control.c"
#include "../../dispatcher/table.c"
#include "../../dispatcher/direct.c"
#include "../../dispatcher/guest.c"
#include "../../dispatcher/guest-pidfd.c"
#include "../../dispatcher/helper-link.c"
#include "../../dispatcher/listen.c"
#include "../../dispatcher/pair.c"
#include "../../dispatcher/pin.c"
#include "../../dispatcher/pump.c"
#include "../../dispatcher/quota.c"
#include "../../dispatcher/relay.c"
#include "../../dispatcher/resolve.c"
#include "../../dispatcher/dns.c"
#include "../../dispatcher/dns-wire.c"
#include "../../dispatcher/stream.c"

/* what main.c provides in sockoutd */
struct dconf *cfg;
uint64_t start_ms;
struct stats stats;

#endif
