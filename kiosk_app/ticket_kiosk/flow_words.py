"""Every text of the kiosk's code flows (appointments, result pickup, identity cards, the keypad).

Vietnamese first, English second; ``{…}`` fields are filled by the view-model. No text ever holds a
citizen's name: screens show initials at most.
"""

from __future__ import annotations

from kiosk_app.shell.words import Words

W = {
    # home
    "appointment": Words("Tôi có lịch hẹn", "I have an appointment"),
    "result": Words("Nhận kết quả", "Collect a result"),
    "scan_hint": Words("Quét mã trên giấy hẹn hoặc thẻ căn cước", "Scan the code on your receipt or ID card"),
    "scan_hint_codes": Words(
        "Quét mã trên giấy hẹn hoặc mã đặt lịch", "Scan the code on your receipt or booking"
    ),
    "forget_card": Words("Không dùng thẻ nữa", "Stop using my card"),
    "card_banner": Words("Thẻ căn cước {who}", "ID card {who}"),
    "card_banner_prio": Words(
        "Thẻ căn cước {who}: số ưu tiên (từ {age} tuổi)", "ID card {who}: priority (aged {age}+)"
    ),
    "typed_bad": Words("Mã chưa đúng dạng, xin kiểm tra lại", "This is not a valid code, please check it"),
    # lookup-only kiosk
    "lookup_title": Words("Tra cứu kết quả hồ sơ", "Check a dossier's result"),
    "lookup_hint": Words(
        "Quét mã trên giấy tiếp nhận và hẹn trả kết quả, hoặc nhập mã hồ sơ",
        "Scan the code on your receipt, or type the dossier code",
    ),
    "type_dossier": Words("Nhập mã hồ sơ", "Type the dossier code"),
    # keypad
    "pad_booking": Words("Nhập mã đặt lịch", "Type your booking code"),
    "pad_dossier": Words("Nhập mã hồ sơ", "Type your dossier code"),
    "pad_booking_hint": Words(
        "Mã đặt lịch bắt đầu bằng DL, ví dụ DL24120400017", "A booking code starts with DL"
    ),
    "pad_dossier_hint": Words(
        "Mã hồ sơ in trên giấy hẹn, ví dụ 000.00.12.H23-241204-0003", "The dossier code is on your receipt"
    ),
    "pad_letters": Words("ABC", "Letters"),
    "pad_digits": Words("123", "Digits"),
    "erase": Words("Xóa", "Delete"),
    "find": Words("Tra cứu", "Look up"),
    # looking up
    "looking": Words("Đang tra cứu, xin chờ một chút…", "Looking it up, please wait…"),
    "looking_max": Words("Còn tối đa {s} giây", "At most {s} more seconds"),
    "cancel": Words("Hủy", "Cancel"),
    # appointment
    "booking_title": Words("Lịch hẹn của bạn", "Your appointment"),
    "booking_slot": Words("Lịch hẹn {start}–{end}, {service}", "Appointment {start}–{end}, {service}"),
    "booking_who": Words("Người đặt: {who}", "Booked by: {who}"),
    "take_number": Words("Lấy số", "Get my number"),
    "booked_on_time": Words(
        "Bạn có lịch hẹn: sẽ được gọi gần giờ hẹn",
        "You have an appointment: you will be called near your time",
    ),
    "booked_early": Words(
        "Bạn đến sớm: sẽ được gọi từ {time}", "You are early: you will be called from {time}"
    ),
    "booked_late": Words(
        "Bạn đến muộn so với giờ hẹn: số của bạn được gọi như số thường",
        "You are late for your appointment: your number is called like any other",
    ),
    "booked_mark": Words("Đặt lịch {time}", "Booked {time}"),
    "booking_used_title": Words(
        "Mã đặt lịch này đã được dùng hôm nay", "This booking code has already been used today"
    ),
    "booking_used_hint": Words(
        "Mỗi lịch hẹn chỉ lấy được một số. Nếu bạn bị mất phiếu, xin liên hệ cán bộ hướng dẫn.",
        "Each appointment gets one number. If you lost your ticket, please ask a staff member.",
    ),
    "booking_cancelled_title": Words("Lịch hẹn này đã bị hủy", "This appointment was cancelled"),
    "booking_early_title": Words("Bạn đến sớm hơn giờ hẹn", "You are early for your appointment"),
    "come_back_at": Words("Xin mời quay lại lúc {time}", "Please come back at {time}"),
    "booking_late_title": Words("Đã quá giờ hẹn của bạn", "Your appointment time has passed"),
    "late_until": Words("Lịch hẹn chỉ nhận đến {time}", "Appointments were taken until {time}"),
    "booking_other_day": Words("Lịch hẹn của bạn là ngày {day}", "Your appointment is on {day}"),
    "booking_elsewhere": Words(
        "Lịch hẹn này không phải tại trung tâm này", "This appointment is at another centre"
    ),
    "booking_not_today": Words("Lịch hẹn của bạn không phải hôm nay", "Your appointment is not today"),
    "no_bookings": Words(
        "Máy này không nhận lịch hẹn. Xin mời chọn lĩnh vực để lấy số thường.",
        "This kiosk does not take appointments. Please choose a service for a normal ticket.",
    ),
    "or_normal": Words("Bạn vẫn có thể lấy số thường", "You can still take a normal ticket"),
    "walk_in": Words("Lấy số thường", "Normal ticket"),
    "choose_service": Words("Chọn lĩnh vực", "Choose a service"),
    # result pickup
    "dossier_title": Words("Hồ sơ đã có kết quả", "Your result is ready"),
    "dossier_code": Words("Mã hồ sơ: {code}", "Dossier: {code}"),
    "take_result": Words("Lấy số nhận kết quả", "Get a number to collect it"),
    "result_elsewhere": Words(
        "Mời bạn lấy số nhận kết quả tại máy lấy số", "Please take a result pickup number at a ticket kiosk"
    ),
    "dossier_received": Words("Hồ sơ đã được tiếp nhận", "Your dossier has been received"),
    "dossier_processing": Words("Hồ sơ đang xử lý", "Your dossier is being processed"),
    "dossier_ready": Words("Hồ sơ đã có kết quả", "Your result is ready"),
    "dossier_returned": Words("Hồ sơ đã trả kết quả", "Your result has already been returned"),
    "dossier_rejected": Words(
        "Hồ sơ cần bổ sung hoặc không được giải quyết", "Your dossier needs more papers or was refused"
    ),
    "promised": Words("Hẹn trả ngày {day}", "Promised for {day}"),
    "status_promised": Words("{status}, hẹn trả ngày {day}", "{status}, promised for {day}"),
    "no_ticket": Words("Bạn chưa cần lấy số hôm nay", "You do not need a number today"),
    "ask_staff_rejected": Words("Xin liên hệ cán bộ hướng dẫn", "Please ask a staff member"),
    "no_dossiers": Words(
        "Máy này không tra cứu hồ sơ. Xin mời chọn lĩnh vực để lấy số thường.",
        "This kiosk does not look dossiers up. Please choose a service for a normal ticket.",
    ),
    "tickets_elsewhere": Words(
        "Máy này chỉ tra cứu hồ sơ. Xin mời lấy số tại máy lấy số.",
        "This kiosk only checks dossiers. Please take a number at a ticket kiosk.",
    ),
    # not found, back end down
    "booking_not_found": Words("Không tìm thấy lịch hẹn với mã này", "No appointment has this code"),
    "dossier_not_found": Words("Không tìm thấy hồ sơ với mã này", "No dossier has this code"),
    "check_code": Words(
        "Xin kiểm tra lại mã, hoặc hỏi cán bộ hướng dẫn", "Please check the code, or ask a staff member"
    ),
    "type_again": Words("Nhập lại", "Type again"),
    "down_title": Words(
        "Không tra cứu được lúc này — bạn vẫn có thể lấy số thường",
        "Cannot look it up now — you can still take a normal ticket",
    ),
    "down_result": Words("Số thường của quầy trả kết quả", "A normal number for the result counter"),
    # scans
    "scan_bad_title": Words("Không đọc được mã", "The code could not be read"),
    "scan_unreadable": Words(
        "Không đọc được mã, xin quét lại", "The code could not be read, please scan again"
    ),
    "scan_again": Words("Chưa đọc hết mã, xin quét lại", "The code was cut short, please scan again"),
    "no_cards": Words(
        "Máy này không dùng thẻ căn cước. Xin mời chọn lĩnh vực để lấy số.",
        "This kiosk does not use ID cards. Please choose a service to take a number.",
    ),
    # consent
    "consent_title": Words("Dùng thẻ căn cước của bạn?", "Use your ID card?"),
    "agree": Words("Đồng ý", "I agree"),
    "decline": Words("Không, lấy số thường", "No, a normal ticket"),
    # the done screen of a result pickup
    "pickup_line": Words("Nhận kết quả hồ sơ {code}", "Result pickup, dossier {code}"),
}
