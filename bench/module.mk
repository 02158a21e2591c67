PROGS += $(B)/sockbench
$(B)/sockbench: $(B)/bench/sockbench.o
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^
-include $(B)/bench/sockbench.d

# The libssh2 ceiling for bench/ssh.sh: one blocking session, one channel.
CFLAGS_bench_ := $(call pc_cflags,libssh2)
PROGS += $(B)/ssh-ceiling
$(B)/ssh-ceiling: $(B)/bench/ssh-ceiling.o
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(call pc_libs,libssh2)
-include $(B)/bench/ssh-ceiling.d
