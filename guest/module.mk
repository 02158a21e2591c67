# guest/: libsockout-guest.so (the LD_PRELOAD shim) and sockout-run.
#
# The shim is loaded into arbitrary programs, so it is built position
# independent, exports only the functions it wraps, and never carries the
# sanitizers (an ASan library cannot be preloaded into a program that was
# not built with ASan).  It needs the protocol codec, which is compiled a
# second time as PIC under $(B)/guest/pic/ because libsockout-common.a is
# not.  Its logic is exercised under ASan/UBSan by tests/unit/test-shim.c,
# which links the same sources into a normal test program.
SHIM_SRC := $(wildcard guest/shim-*.c)
SHIM_PIC_SRC := $(SHIM_SRC) guest/gp-client.c protocol/addr.c protocol/guestproto.c protocol/helperproto.c \
	common/buf.c
SHIM_OBJ := $(SHIM_PIC_SRC:%.c=$(B)/guest/pic/%.o)
SHIM_CFLAGS := $(filter-out $(SANFLAGS),$(CFLAGS)) -fPIC -fvisibility=hidden \
	-ffunction-sections -fdata-sections
SHIM_LDFLAGS := $(filter-out $(SANFLAGS),$(LDFLAGS)) -shared \
	-Wl,--gc-sections -Wl,-z,defs -Wl,-z,now -Wl,-soname,libsockout-guest.so

PROGS += $(B)/libsockout-guest.so $(B)/sockout-run

$(B)/guest/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (pic)"
	$(Q)$(CC) $(SHIM_CFLAGS) -c -o $@ $<

$(B)/libsockout-guest.so: $(SHIM_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(SHIM_LDFLAGS) -o $@ $^ -ldl -lpthread

$(B)/sockout-run: $(B)/guest/sockout-run.o $(B)/guest/seccomp.o $(B)/guest/gp-client.o \
	$(B)/guest/dns-stub.o $(LIBCOMMON)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lpthread

# make install (top Makefile) puts sockout-run in bin and the shim in
# lib/sockout/, where sockout-run looks for it.

-include $(SHIM_OBJ:.o=.d) $(B)/guest/sockout-run.d $(B)/guest/seccomp.d \
	$(B)/guest/gp-client.d $(B)/guest/dns-stub.d

# tests/unit/test-shim.c links the shim's sources into a normal program.
LDLIBS_tests_unit_test-shim := -ldl -lpthread
LDLIBS_tests_unit_test-seccomp := -lpthread
