#!/bin/bash
# Runs inside the lab guest at every boot (seatmeter-lab.service of the image mounts the lab disk on
# /lab and starts this): the results disk goes to /results, guest.py does the checks of this boot and
# says how the boot ends (reboot into the next phase, or power off).
mkdir -p /results
if ! mount LABEL=smres /results; then
        echo "lab: no results disk"
        systemctl poweroff --no-block
        exit 1
fi
python3 /lab/guest.py 2>&1 | tee -a /results/guest.log
next=$(cat /results/next 2>/dev/null || echo poweroff)
sync
umount /results
systemctl "$next" --no-block
