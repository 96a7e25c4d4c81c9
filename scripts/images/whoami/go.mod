module hps.local/whoami

go 1.24
