PROGS += $(B)/sockbench
$(B)/sockbench: $(B)/bench/sockbench.o
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^
-include $(B)/bench/sockbench.d
