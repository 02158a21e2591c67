# sockout-im: the IM (XMPP) overlay helper.
PROGS += $(B)/sockout-im
IM_SRC := $(wildcard helpers/im/*.c)
IM_OBJ := $(IM_SRC:%.c=$(B)/%.o)
IM_LIBS := $(call pc_libs,libstrophe libsodium json-c libcrypto)
CFLAGS_helpers_im_ := $(call pc_cflags,libstrophe libsodium json-c libcrypto)

$(B)/sockout-im: $(IM_OBJ) $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(IM_LIBS)

# Unit tests include the .c files they test; they need the same libraries.
LDLIBS_tests_unit_test-im-crypto := $(IM_LIBS)
LDLIBS_tests_unit_test-im-rpc := $(IM_LIBS)

-include $(IM_OBJ:.o=.d)
LDLIBS_tests_unit_test-im-socks5 := $(IM_LIBS)
LDLIBS_tests_unit_test-im-config := $(IM_LIBS)

# tests/tools/im-inject: a hostile XMPP client for the bad-input test.  An
# explicit rule (it needs the IM libraries and crypto/rpc/config objects)
# takes precedence over the generic tests/tools pattern rule.
ALL_TARGETS += $(B)/tests/tools/im-inject
$(B)/tests/tools/im-inject: $(B)/tests/tools/im-inject.o $(B)/helpers/im/crypto.o \
		$(B)/helpers/im/socks5.o $(B)/helpers/im/xep65.o \
		$(B)/helpers/im/rpc.o $(B)/helpers/im/config.o $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(IM_LIBS)
