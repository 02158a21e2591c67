# dispatcher: sockoutd (the dispatcher daemon) and sockoutctl (its CLI).
SOCKOUTD_SRC := $(filter-out dispatcher/sockoutctl.c,$(wildcard dispatcher/*.c))
SOCKOUTD_OBJ := $(SOCKOUTD_SRC:%.c=$(B)/%.o)
SOCKOUTCTL_OBJ := $(B)/dispatcher/sockoutctl.o
CFLAGS_dispatcher_ := $(call pc_cflags,json-c libcares)
DISPATCHER_LIBS := $(call pc_libs,json-c libcares)
# ldns: the DNS wire format of guests' queries (dns-wire.c)
CFLAGS_dispatcher_ += $(call pc_cflags,ldns)
DISPATCHER_LIBS += $(call pc_libs,ldns)

PROGS += $(B)/sockoutd $(if $(wildcard dispatcher/sockoutctl.c),$(B)/sockoutctl)

$(B)/sockoutd: $(SOCKOUTD_OBJ) $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DISPATCHER_LIBS)

$(B)/sockoutctl: $(SOCKOUTCTL_OBJ) $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(DISPATCHER_LIBS)

# Unit tests that #include dispatcher sources.
LDLIBS_tests_unit_test-rules := $(DISPATCHER_LIBS)
LDLIBS_tests_unit_test-table := $(DISPATCHER_LIBS)

-include $(SOCKOUTD_OBJ:.o=.d) $(SOCKOUTCTL_OBJ:.o=.d)

# test-rules-guest runs the guest side of sockoutd in process: it links the
# dispatcher's objects (all but main.o) after its own.
SOCKOUTD_LIBOBJ := $(filter-out $(B)/dispatcher/main.o,$(SOCKOUTD_OBJ))
$(B)/tests/unit/test-rules-guest: $(SOCKOUTD_LIBOBJ)
LDLIBS_tests_unit_test-rules-guest := $(LIBCOMMON) $(DISPATCHER_LIBS)

# test-pump #includes pump.c and drives it against the real helper link.
$(B)/tests/unit/test-pump: $(B)/dispatcher/helper-link.o
LDLIBS_tests_unit_test-pump := $(LIBCOMMON)

# test-resolve drives the name engine through its API: the dispatcher's
# objects (all but main.o), like test-rules-guest.
$(B)/tests/unit/test-resolve: $(SOCKOUTD_LIBOBJ)
LDLIBS_tests_unit_test-resolve := $(LIBCOMMON) $(DISPATCHER_LIBS)
# test-dns-wire #includes dns-wire.c: ldns
LDLIBS_tests_unit_test-dns-wire := $(call pc_libs,ldns)
CFLAGS_tests_unit_ += $(call pc_cflags,ldns)
# test-guest-channel: kept guest connections (GP_F_KEEP), in process too.
$(B)/tests/unit/test-guest-channel: $(SOCKOUTD_LIBOBJ)
LDLIBS_tests_unit_test-guest-channel := $(LIBCOMMON) $(DISPATCHER_LIBS)
