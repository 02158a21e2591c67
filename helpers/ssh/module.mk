# helpers/ssh: sockout-ssh, the SSH overlay helper (libssh2).
SSH_SRC := $(wildcard helpers/ssh/*.c)
SSH_OBJ := $(SSH_SRC:%.c=$(B)/%.o)
CFLAGS_helpers_ssh_ := $(call pc_cflags,libssh2)
PROGS += $(B)/sockout-ssh

$(B)/sockout-ssh: $(SSH_OBJ) $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pc_libs,libssh2 libcrypto) -pthread

# Unit tests of the ssh helper include its .c files; they need libssh2
# only for the symbols those files reference.  libcrypto (OpenSSL, which
# libssh2 links anyway) gives the rendezvous header its HMAC-SHA256.
LDLIBS_tests_unit_test-ssh-conf := $(call pc_libs,libssh2)
LDLIBS_tests_unit_test-ssh-rdv := $(call pc_libs,libcrypto)

-include $(SSH_OBJ:.o=.d)

# The protocol-driving test tool (sockout-probe) lives in tests/tools.
ifndef TESTS_TOOLS_MK
include tests/tools/module.mk
endif
